import { join } from "node:path";
import type { DocumentSnapshot } from "firebase-admin/firestore";

/**
 * The CloudEvents Eventarc delivers to a deployed Firestore trigger: `DocumentEventData`,
 * protobuf-encoded, with the document's fields, create and update times. The Cloud Functions
 * runtime calls a v2 function with exactly this object, so a test or the bench that calls
 * `onMirrorQueueTaskCreated(event)` runs what production runs, including firebase-functions'
 * decoding: the handler's `event.data` is a snapshot built from the event, with no read time
 * (reading `readTime` on it throws), unlike a snapshot from a read.
 */
export interface FirestoreCloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time: string;
  datacontenttype: "application/protobuf";
  project: string;
  database: string;
  namespace: string;
  document: string;
  data: Buffer;
}

/** The event of `snap`'s creation; `snap` is the document as read after it was created. */
export function documentCreatedEvent(snap: DocumentSnapshot, projectId: string): FirestoreCloudEvent {
  return event("created", snap, projectId, { value: documentProto(snap, projectId) });
}

/** The event of `snap`'s deletion; `snap` is the document as read before it was deleted. */
export function documentDeletedEvent(snap: DocumentSnapshot, projectId: string): FirestoreCloudEvent {
  return event("deleted", snap, projectId, { oldValue: documentProto(snap, projectId) });
}

type Stamp = { seconds: number; nanoseconds: number };
const stamp = (t: Stamp) => ({ seconds: t.seconds, nanos: t.nanoseconds });

function documentProto(snap: DocumentSnapshot, projectId: string) {
  if (!snap.exists) throw new Error(`documentEvent: ${snap.ref.path} does not exist; pass the document as read`);
  return {
    name: `projects/${projectId}/databases/(default)/documents/${snap.ref.path}`,
    // The wire form of the fields, as Firestore sends them to Eventarc.
    fields: (snap as unknown as { _fieldsProto: unknown })._fieldsProto,
    createTime: stamp(snap.createTime!),
    updateTime: stamp(snap.updateTime!),
  };
}

function event(kind: "created" | "deleted", snap: DocumentSnapshot, projectId: string, payload: object): FirestoreCloudEvent {
  const DocumentEventData = eventDataType();
  return {
    specversion: "1.0",
    id: `${kind}-${snap.ref.path}-${snap.updateTime!.toMillis()}`,
    source: `//firestore.googleapis.com/projects/${projectId}/databases/(default)`,
    type: `google.cloud.firestore.document.v1.${kind}`,
    time: snap.updateTime!.toDate().toISOString(),
    datacontenttype: "application/protobuf",
    project: projectId,
    database: "(default)",
    namespace: "(default)",
    document: snap.ref.path,
    data: Buffer.from(DocumentEventData.encode(DocumentEventData.fromObject(payload)).finish()),
  };
}

interface ProtoType {
  fromObject(o: object): unknown;
  encode(m: unknown): { finish(): Uint8Array };
}

function eventDataType(): ProtoType {
  // firebase-functions decodes events with these protos; they are not among its exports, so they
  // are required by path from its installed root.
  const functionsRoot = require.resolve("firebase-functions").split("/lib/")[0];
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { google } = require(join(functionsRoot, "protos/compiledFirestore"));
  return google.events.cloud.firestore.v1.DocumentEventData;
}
