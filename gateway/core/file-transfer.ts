// What crossed a session as a file, whatever carried it (SFTP/scp over SSH, a redirected drive over RDP):
// the shapes behind `file.transferred` and `file.changed`.

export interface FileTransfer {
  /** The path as the client named it. */
  name: string;
  direction: 'upload' | 'download';
  /** Bytes that went through the gateway for this file in this direction. */
  size: number;
  /** Only when every byte from offset 0 came once, in order, with no hole (`sequential`). */
  sha256?: string;
  sequential: boolean;
  /** The client closed the file and the server confirmed; false when the channel ended first. */
  closed: boolean;
  /** Reads or writes the server refused (end of file aside). */
  errors?: number;
}

export interface FileChange {
  op: 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'setstat';
  path: string;
  to?: string;
  /** The server's answer; null when the channel ended before it came. */
  ok: boolean | null;
  status?: number;
}
