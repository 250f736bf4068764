/**
 * Mints JWTs for tests and docs: `await signTestToken(secret, "alice")` is a token the server
 * started with `--auth-secret <secret>` accepts for `alice` for the next hour.
 */
import { SignJWT } from "jose";

export interface TestTokenOptions {
  /** Seconds from now until `exp`; negative for an expired token. Default 3600. */
  expiresInS?: number;
  /** Leave `exp` out (the server refuses such tokens). */
  noExp?: boolean;
  /** Seconds from now for `nbf`; positive for a token not yet valid. Default: no `nbf`. */
  notBeforeS?: number;
  /** HMAC algorithm of the signature. Default HS256 (the only one the server accepts). */
  alg?: "HS256" | "HS384" | "HS512";
  /** Extra claims to put in the payload. */
  claims?: Record<string, unknown>;
}

/** A signed JWT whose `sub` is `sub` (any value, to build bad tokens too). */
export async function signTestToken(
  secret: string,
  sub: unknown,
  options: TestTokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { ...options.claims, sub, iat: now };
  if (!options.noExp) payload.exp = now + (options.expiresInS ?? 3600);
  if (options.notBeforeS !== undefined) payload.nbf = now + options.notBeforeS;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));
}

/** An unsigned `alg: none` token, built by hand (jose refuses to make one for verification). */
export function unsignedToken(sub: string, expiresInS = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part({ sub, iat: now, exp: now + expiresInS })}.`;
}
