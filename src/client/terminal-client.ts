// Placeholder until the terminal client lands (issue 6).
export async function runTerminalClient(_options: {
  url: string;
  user: string;
  token?: string;
}): Promise<void> {
  throw new Error("the terminal client is not built yet");
}
