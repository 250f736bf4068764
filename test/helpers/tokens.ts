/** HS256 JWTs for tests against a server started with `--auth-secret`. */
import { SignJWT } from "jose";

export function signToken(secret: string, username: string, expiresIn = "5m"): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(username)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}
