// The public half of a stored Ed25519 secret key (tweetnacl's 64 bytes: seed ‖ public key).
export function publicKeyOf(secretKey: string): string {
  return Buffer.from(secretKey, 'base64').subarray(32, 64).toString('base64');
}
