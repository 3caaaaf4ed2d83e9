/** Encoders of the few SDK command messages the partition tests journal (field numbers of the service protocol). */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import * as J from '../src/journal.ts';
import type { JournalEntry } from '../src/types.ts';

const ld = (w: BinaryWriter, no: number) => w.uint32((no << 3) | WireType.LengthDelimited);
const vi = (w: BinaryWriter, no: number) => w.uint32((no << 3) | WireType.Varint);

/** CallCommandMessage: target, parameter, the invocation id's and the result's completion ids. */
export function callCmd(service: string, handler: string, param: string, idIdx: number, resIdx: number): JournalEntry {
  const w = new BinaryWriter();
  ld(w, 1).string(service);
  ld(w, 2).string(handler);
  ld(w, 3).bytes(Buffer.from(param));
  vi(w, 10).uint32(idIdx);
  vi(w, 11).uint32(resIdx);
  return { type: J.T.Call, bytes: w.finish() };
}

export function sleepCmd(wake: number, id: number): JournalEntry {
  const w = new BinaryWriter();
  vi(w, 1).uint64(BigInt(wake));
  vi(w, 11).uint32(id);
  return { type: J.T.Sleep, bytes: w.finish() };
}

export function outputCmd(value: string): JournalEntry {
  const w = new BinaryWriter();
  ld(w, 14).fork();
  ld(w, 1).bytes(Buffer.from(value));
  w.join();
  return { type: J.T.Output, bytes: w.finish() };
}

export function setStateCmd(key: string, value: string | Uint8Array): JournalEntry {
  const w = new BinaryWriter();
  ld(w, 1).bytes(Buffer.from(key));
  ld(w, 3).fork();
  ld(w, 1).bytes(typeof value === 'string' ? Buffer.from(value) : value);
  w.join();
  return { type: J.T.SetState, bytes: w.finish() };
}

/** GetPromise, PeekPromise or CompletePromise (with `value`) of promise `key`. */
export function promiseCmd(type: number, key: string, id: number, value?: string): JournalEntry {
  const w = new BinaryWriter();
  ld(w, 1).string(key);
  if (value !== undefined) {
    ld(w, 2).fork();
    ld(w, 1).bytes(Buffer.from(value));
    w.join();
  }
  vi(w, 11).uint32(id);
  return { type, bytes: w.finish() };
}

/** RunCommandMessage: ctx.run(name) with its result's completion id. */
export function runCmd(id: number, name: string): JournalEntry {
  const w = new BinaryWriter();
  vi(w, 11).uint32(id);
  ld(w, 12).string(name);
  return { type: 0x0411, bytes: w.finish() };
}
