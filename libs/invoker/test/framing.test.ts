import {
  encodeFrame,
  FrameDecoder,
  FrameTooLargeError,
  isCommand,
  isNotification,
  MessageType,
  REQUESTED_ACK,
} from '../src/index.ts';

describe('service protocol framing', () => {
  it('writes the 8-byte big-endian header', () => {
    const f = encodeFrame(0x0411, new Uint8Array([1, 2, 3]), REQUESTED_ACK);
    expect([...f]).toEqual([0x04, 0x11, 0x80, 0x00, 0, 0, 0, 3, 1, 2, 3]);
  });

  it('reassembles frames cut at every possible boundary', () => {
    const frames = [
      encodeFrame(MessageType.Start, Buffer.from('start')),
      encodeFrame(0x0400, new Uint8Array(0)),
      encodeFrame(0x8011, Buffer.alloc(300, 7)),
      encodeFrame(MessageType.End, new Uint8Array(0)),
    ];
    const all = Buffer.concat(frames);
    for (let cut = 1; cut < all.length; cut += 7) {
      const d = new FrameDecoder();
      const out = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
      expect(out.map((f) => f.type)).toEqual([0x0000, 0x0400, 0x8011, 0x0003]);
      expect(Buffer.from(out[0].payload).toString()).toBe('start');
      expect(out[2].payload).toHaveLength(300);
      expect(d.pending).toBe(0);
    }
    const byteByByte = new FrameDecoder();
    const seen = [...all].flatMap((b) => byteByByte.push(new Uint8Array([b])));
    expect(seen.map((f) => f.flags)).toEqual([0, 0, 0, 0]);
  });

  it('refuses a message larger than the limit', () => {
    const d = new FrameDecoder(1024);
    expect(() => d.push(encodeFrame(0x0400, Buffer.alloc(2048)))).toThrow(FrameTooLargeError);
  });

  it('classifies message types by range', () => {
    expect(isCommand(0x0400)).toBe(true);
    expect(isCommand(0xfc01)).toBe(true);
    expect(isCommand(0x8000)).toBe(false);
    expect(isNotification(0x800c)).toBe(true);
    expect(isNotification(0xfbff)).toBe(true);
    expect(isNotification(MessageType.Suspension)).toBe(false);
  });
});
