/**
 * Service protocol framing: every message is an 8-byte header — u16 type, u16 flags, u32 payload
 * length, big-endian — followed by the protobuf payload.
 */
export const MessageType = {
  Start: 0x0000,
  Suspension: 0x0001,
  Error: 0x0002,
  End: 0x0003,
  CommandAck: 0x0004,
  ProposeRunCompletion: 0x0005,
  AwaitingOn: 0x0006,
  ProposeRunCompletionAck: 0x0007,
} as const;

/** Header flag: the sender asks for an acknowledgement (ProposeRunCompletion, v7). */
export const REQUESTED_ACK = 0x8000;

export const isCommand = (type: number): boolean => (type >= 0x0400 && type < 0x8000) || type >= 0xfc00;
export const isNotification = (type: number): boolean => type >= 0x8000 && type < 0xfc00;

export interface Frame {
  type: number;
  flags: number;
  payload: Uint8Array;
}

export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError';
}

export function encodeFrame(type: number, payload: Uint8Array, flags = 0): Buffer {
  const b = Buffer.allocUnsafe(8 + payload.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt32BE(payload.length, 4);
  b.set(payload, 8);
  return b;
}

/** Reassembles frames from chunks cut anywhere. */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly maxMessageBytes: number;

  constructor(maxMessageBytes = 32 * 1024 * 1024) {
    this.maxMessageBytes = maxMessageBytes;
  }

  push(chunk: Uint8Array): Frame[] {
    this.buffered = this.buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    while (this.buffered.length >= 8) {
      const length = this.buffered.readUInt32BE(4);
      if (length > this.maxMessageBytes) {
        throw new FrameTooLargeError(
          `message of type 0x${this.buffered.readUInt16BE(0).toString(16)} is ${length} bytes; the limit is ${this.maxMessageBytes}`,
        );
      }
      if (this.buffered.length < 8 + length) break;
      frames.push({
        type: this.buffered.readUInt16BE(0),
        flags: this.buffered.readUInt16BE(2),
        payload: new Uint8Array(this.buffered.subarray(8, 8 + length)),
      });
      this.buffered = this.buffered.subarray(8 + length);
    }
    return frames;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pending(): number {
    return this.buffered.length;
  }
}
