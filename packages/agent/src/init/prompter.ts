import { createInterface } from 'node:readline';
import { TendrilError } from '@tendril/core';

/** Asks questions on a terminal or reads answers from piped standard input, one line each. */
export interface Prompter {
  /** Asks; an empty answer takes `defaultValue`. Re-asks while `validate` returns a problem. */
  ask(
    question: string,
    options?: {
      defaultValue?: string;
      validate?: (answer: string) => string | undefined;
      choices?: readonly string[];
    },
  ): Promise<string>;
  /** Asks without echoing what is typed (passwords). */
  askSecret(question: string): Promise<string>;
  close(): void;
}

/**
 * A prompter over streams. Lines are read through one async iterator, so answers piped in all at
 * once (scripted runs, tests) are buffered instead of lost between questions. On a terminal the
 * secret question mutes the echo. Ctrl-C on a terminal rejects the pending question with
 * TENDRIL_E_INTERRUPTED (exit 130, docs/cli.md); input that ends early is TENDRIL_E_USAGE.
 */
export function createPrompter(
  input: NodeJS.ReadableStream & { isTTY?: boolean },
  output: NodeJS.WritableStream,
): Prompter {
  const terminal = input.isTTY === true;
  const rl = createInterface({ input, output, terminal });
  let muted = false;
  const internals = rl as unknown as { _writeToOutput?: (text: string) => void };
  internals._writeToOutput = (text: string) => {
    if (!muted) output.write(text);
  };
  const lines = rl[Symbol.asyncIterator]();
  let interrupt: ((error: TendrilError) => void) | undefined;
  const interrupted = new Promise<never>((_resolve, reject) => {
    interrupt = reject;
  });
  interrupted.catch(() => undefined);
  // With a 'SIGINT' listener, readline reports Ctrl-C here instead of closing the input.
  rl.on('SIGINT', () =>
    interrupt?.(new TendrilError('TENDRIL_E_INTERRUPTED', 'interrupted (Ctrl-C); nothing was written')),
  );
  const nextLine = async (): Promise<string> => {
    const next = await Promise.race([lines.next(), interrupted]);
    if (next.done)
      throw new TendrilError(
        'TENDRIL_E_USAGE',
        'the input ended before every question was answered; nothing was written',
      );
    return String(next.value);
  };
  return {
    async ask(question, options = {}) {
      for (;;) {
        const choices = options.choices ? ` (${options.choices.join(', ')})` : '';
        const fallback =
          options.defaultValue !== undefined && options.defaultValue !== ''
            ? ` [${options.defaultValue}]`
            : '';
        output.write(`${question}${choices}${fallback}: `);
        const raw = (await nextLine()).trim();
        if (!terminal) output.write('\n');
        const answer = raw === '' ? (options.defaultValue ?? '') : raw;
        const problem =
          answer === ''
            ? 'an answer is needed'
            : options.choices && !options.choices.includes(answer)
              ? `choose one of: ${options.choices.join(', ')}`
              : options.validate?.(answer);
        if (!problem) return answer;
        output.write(`  ${problem}\n`);
      }
    },
    async askSecret(question) {
      output.write(`${question} (not shown): `);
      muted = true;
      try {
        return await nextLine();
      } finally {
        muted = false;
        output.write('\n');
      }
    },
    close: () => rl.close(),
  };
}
