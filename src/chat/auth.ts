/**
 * JWT check for `--auth-secret`: a token is accepted only if it is an HS256 JWS signed with the
 * secret, unexpired (`exp` is required), already valid (`nbf`, if present), and its `sub` is a
 * valid username equal to the one the client asks for.
 *
 * The verifier never throws: every failure comes back as `{ ok: false, reason }`. The reason is
 * for the server's logs only; clients get the fixed `UNAUTHORIZED` text.
 */
import { errors, jwtVerify } from "jose";
import { isValidUsername } from "../protocol.js";

/** The only algorithm accepted. `alg: none`, other HMACs and every asymmetric one are refused. */
export const TOKEN_ALGORITHM = "HS256";
/** Seconds of clock skew tolerated on `exp` and `nbf` between the token issuer and this host. */
export const CLOCK_TOLERANCE_S = 5;
/** Longer strings are refused before any parsing (a JWT carrying a username is ~200 bytes). */
export const MAX_TOKEN_LENGTH = 8192;

/** `expiresAt`: the token's `exp` in epoch milliseconds; the session ends then unless refreshed. */
export type TokenCheck =
  | { ok: true; username: string; expiresAt: number }
  | { ok: false; reason: string };

/**
 * Checks a client's token. `username` is the name the client asked for in `log in`; when it is
 * undefined (the handshake's `auth.token`), the token's `sub` alone names the user.
 */
export type TokenVerifier = (token: unknown, username: string | undefined) => Promise<TokenCheck>;

/**
 * Builds a verifier for one secret. The secret's UTF-8 bytes are the HMAC key, as with
 * `jsonwebtoken` and most issuers given a string secret.
 */
export function createTokenVerifier(secret: string): TokenVerifier {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("createTokenVerifier: the secret must be a non-empty string");
  }
  const key = new TextEncoder().encode(secret);
  return async (token, username) => {
    if (typeof token !== "string" || token.length === 0) return fail("no token");
    if (token.length > MAX_TOKEN_LENGTH) return fail(`token longer than ${MAX_TOKEN_LENGTH}`);
    let sub: unknown;
    let exp: number | undefined;
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [TOKEN_ALGORITHM],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ["exp", "sub"],
      });
      sub = payload.sub;
      exp = payload.exp;
    } catch (error) {
      return fail(describe(error));
    }
    if (!isValidUsername(sub)) return fail("sub is not a valid username");
    if (username !== undefined && username !== sub) return fail("username does not match sub");
    return { ok: true, username: sub, expiresAt: (exp ?? 0) * 1000 };
  };
}

function fail(reason: string): TokenCheck {
  return { ok: false, reason };
}

/** A short log-safe text for a jose error; never echoes the token. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return "token not yet valid (nbf)";
    return `claim ${error.claim}: ${error.reason}`;
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return "algorithm not allowed";
  if (error instanceof errors.JWSSignatureVerificationFailed) return "bad signature";
  if (error instanceof errors.JOSEError) return `invalid token (${error.code})`;
  return "invalid token";
}
