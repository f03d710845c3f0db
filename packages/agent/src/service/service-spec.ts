/** Everything a service definition needs, resolved to absolute paths by the command. */
export interface ServiceSpec {
  /** Service name (`tendril`): the unit `tendril.service`, the Windows service id. */
  readonly name: string;
  /** Shown in services.msc / systemctl status. */
  readonly description: string;
  /** The Node.js executable. */
  readonly nodePath: string;
  /** The CLI entry point (`…/packages/agent/dist/bin.js`). */
  readonly entryPath: string;
  readonly configFile: string;
  /** Working directory: the config's folder. */
  readonly workingDirectory: string;
  /** Where the agent finds the site key. */
  readonly siteKey:
    | { readonly kind: 'key-file'; readonly path: string }
    | { readonly kind: 'environment-file'; readonly path: string };
  /** Linux: the user (and group) the agent runs as. */
  readonly user?: string;
  /** Windows: `DOMAIN\user` the service logs on as (Windows authentication to SQL Server). */
  readonly windowsAccount?: string;
}

/** The command line the service runs: the supervised agent. */
export function serviceArguments(spec: ServiceSpec): string[] {
  return [spec.entryPath, 'run', '--config', spec.configFile];
}
