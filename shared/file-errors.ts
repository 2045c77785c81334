// What went wrong with a file, in words from its errno: the reason in one-line errors that name
// the file (an output file that cannot be written, a credentials file that cannot be read).

/** Why a file operation failed, in words, from its errno (the message as it is for another one). */
export function fileErrorReason(err: unknown): string {
  switch ((err as NodeJS.ErrnoException)?.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a parent of it is not a directory';
    case 'EEXIST':
      return 'it exists already';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EROFS':
      return 'read-only file system';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
