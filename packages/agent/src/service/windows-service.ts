import { serviceArguments, type ServiceSpec } from './service-spec.js';

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Windows command-line quoting for one argument (CommandLineToArgvW rules, simplified: no trailing backslash before a quote). */
function winArg(arg: string): string {
  return /[\s"]/.test(arg) ? `"${arg.replace(/"/g, '\\"')}"` : arg;
}

function ps(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** File names the Windows service files use, beside each other in one folder. */
export function windowsServiceFiles(name: string): {
  xml: string;
  wrapper: string;
  install: string;
  uninstall: string;
} {
  return {
    xml: `${name}-service.xml`,
    wrapper: `${name}-service.exe`,
    install: `install-${name}-service.ps1`,
    uninstall: `uninstall-${name}-service.ps1`,
  };
}

/**
 * The Windows service definition, for WinSW 2.x (the service wrapper node-windows also uses): Node
 * is not a Windows service program itself, so the wrapper answers the Service Control Manager and
 * runs `node bin.js run --config …`. The site key is given as TENDRIL_SITE_KEY_FILE in the
 * service's environment. Restarts on failure are the outer guard; the supervisor inside
 * `tendril run` handles crashes and hangs.
 */
export function winswXml(spec: ServiceSpec): string {
  const args = serviceArguments(spec).map(winArg).join(' ');
  const keyEnv =
    spec.siteKey.kind === 'key-file'
      ? `  <env name="TENDRIL_SITE_KEY_FILE" value="${xml(spec.siteKey.path)}"/>`
      : `  <!-- The site key is set in the machine environment: see docs/install-windows.md -->`;
  return [
    '<!-- Written by `tendril service install` (docs/install-windows.md). WinSW 2.x service definition. -->',
    '<service>',
    `  <id>${xml(spec.name)}</id>`,
    `  <name>${xml(spec.description)}</name>`,
    `  <description>${xml(`${spec.description}. Config: ${spec.configFile}`)}</description>`,
    `  <executable>${xml(spec.nodePath)}</executable>`,
    `  <arguments>${xml(args)}</arguments>`,
    `  <workingdirectory>${xml(spec.workingDirectory)}</workingdirectory>`,
    keyEnv,
    '  <startmode>Automatic</startmode>',
    '  <delayedAutoStart>true</delayedAutoStart>',
    '  <onfailure action="restart" delay="30 sec"/>',
    '  <onfailure action="restart" delay="2 min"/>',
    '  <resetfailure>1 hour</resetfailure>',
    '  <stoptimeout>30 sec</stoptimeout>',
    `  <logpath>${xml(`${spec.workingDirectory}\\logs`)}</logpath>`,
    '  <log mode="roll-by-size">',
    '    <sizeThreshold>10240</sizeThreshold>',
    '    <keepFiles>8</keepFiles>',
    '  </log>',
    '</service>',
    '',
  ].join('\r\n');
}

/**
 * The install script (elevated PowerShell): locks the key file down, registers the service with the
 * wrapper and, for Windows authentication, sets the "Log on as" account, asking for its password
 * (never stored in any file), then starts the service.
 */
export function windowsInstallScript(spec: ServiceSpec): string {
  const files = windowsServiceFiles(spec.name);
  const account = spec.windowsAccount;
  const lines = [
    `# Installs the ${spec.name} Windows service. Written by \`tendril service install\`; docs/install-windows.md.`,
    '# Run in PowerShell "as Administrator" from this folder.',
    "$ErrorActionPreference = 'Stop'",
    '$here = Split-Path -Parent $MyInvocation.MyCommand.Path',
    `$wrapper = Join-Path $here ${ps(files.wrapper)}`,
    `if (-not (Test-Path $wrapper)) { throw ${ps(`${files.wrapper} is missing: download WinSW-x64.exe (2.x), rename it to ${files.wrapper} and put it beside ${files.xml} (docs/install-windows.md, step 4)`)} }`,
  ];
  if (spec.siteKey.kind === 'key-file') {
    lines.push(
      '# The site key file: readable by Administrators, SYSTEM and the service account only.',
      `& icacls.exe ${ps(spec.siteKey.path)} /inheritance:r /grant:r 'Administrators:F' 'SYSTEM:F'${account ? ` ${ps(`${account}:R`)}` : ''} | Out-Null`,
      `if ($LASTEXITCODE -ne 0) { throw 'icacls failed on the site key file; check the path' }`,
    );
  }
  lines.push(
    '& $wrapper install',
    `if ($LASTEXITCODE -ne 0) { throw 'the service wrapper could not register the service (already installed? run the uninstall script first)' }`,
  );
  if (account) {
    lines.push(
      '# Windows authentication: the service logs on as the Windows account that may read the EHR database.',
      `$credential = Get-Credential -UserName ${ps(account)} -Message ${ps(`Password of ${account}, the account the ${spec.name} service logs on as`)}`,
      `& sc.exe config ${ps(spec.name)} obj= $credential.UserName password= $credential.GetNetworkCredential().Password | Out-Null`,
      `if ($LASTEXITCODE -ne 0) { throw ${ps(`sc.exe could not set the account: in services.msc open ${spec.name} → Log On → This account, enter ${account} and its password`)} }`,
    );
  }
  lines.push(
    '& $wrapper start',
    `if ($LASTEXITCODE -ne 0) { throw ${ps(`the service did not start: see ${spec.workingDirectory}\\logs and docs/install-windows.md (error 1069: grant "Log on as a service" by setting the account in services.msc)`)} }`,
    `Write-Host ${ps(`${spec.name} service installed and started`)}`,
    '',
  );
  return lines.join('\r\n');
}

export function windowsUninstallScript(spec: ServiceSpec): string {
  const files = windowsServiceFiles(spec.name);
  return [
    `# Removes the ${spec.name} Windows service (the config, secrets.enc and the store stay). Run as Administrator.`,
    "$ErrorActionPreference = 'Stop'",
    '$here = Split-Path -Parent $MyInvocation.MyCommand.Path',
    `$wrapper = Join-Path $here ${ps(files.wrapper)}`,
    '& $wrapper stop',
    '& $wrapper uninstall',
    `Write-Host ${ps(`${spec.name} service removed`)}`,
    '',
  ].join('\r\n');
}
