// One JSON line per event on stdout, filtered by level. Anything that looks like a key or a
// bearer secret is masked before it is written, as a last line of defence.

export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_PATTERNS = [/pr-(live|test)-[a-z0-9]{32}/g, /(bearer\s+)[^\s"]+/gi];

export class Logger {
  constructor(
    private level: LogLevel = "info",
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + "\n"),
  ) {}

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  enabled(level: LogLevel): boolean {
    return LEVELS[level] >= LEVELS[this.level];
  }

  log(level: LogLevel, message: string, fields: Record<string, unknown> = {}): void {
    if (this.enabled(level)) this.emit(level, message, fields);
  }

  /** Start-up and shutdown lines operators (and scripts waiting for the URL) always need. */
  notice(message: string, fields: Record<string, unknown> = {}): void {
    this.emit("info", message, fields);
  }

  private emit(level: LogLevel, message: string, fields: Record<string, unknown>): void {
    let line = JSON.stringify({ time: new Date().toISOString(), level, msg: message, ...fields });
    for (const pattern of SECRET_PATTERNS) line = line.replace(pattern, (_m, prefix: string) => (typeof prefix === "string" && /bearer/i.test(prefix) ? `${prefix}[redacted]` : "[redacted-key]"));
    this.write(line);
  }

  debug(message: string, fields?: Record<string, unknown>): void {
    this.log("debug", message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log("info", message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log("warn", message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log("error", message, fields);
  }
}
