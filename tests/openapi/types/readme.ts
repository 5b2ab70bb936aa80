// The README's five requests, typed by what openapi-typescript makes of docs/openapi.yaml
// (tests/openapi/run generates gen/tagd.ts, then tsc --strict checks this file): a client
// generated from the document can make them, and reads the fields the README relies on.
import type { paths } from "../gen/tagd";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;
type Body<Op> = Op extends { requestBody?: infer R } ? Json<NonNullable<R>> : never;
type Ok<Op, C extends number> = Op extends { responses: { [K in C]: infer R } } ? Json<R> : never;
type Path<Op> = Op extends { parameters: { path: infer P } } ? P : never;
type Query<Op> = Op extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

type CreateTag = paths["/v1/tags"]["post"];
type PutResource = paths["/v1/resources/{kind}/{key}"]["put"];
type AddTags = paths["/v1/resources/{kind}/{key}/tags"]["post"];
type GetTags = paths["/v1/resources/{kind}/{key}/tags"]["get"];
type Changes = paths["/v1/changes"]["get"];

const base = "http://localhost:8080";
const auth = { Authorization: "Bearer your-admin-token", "Content-Type": "application/json" };

async function call<R>(method: string, url: string, body?: unknown): Promise<R> {
    const r = await fetch(base + url, { method, headers: auth, body: JSON.stringify(body) });
    return (await r.json()) as R;
}

export async function fiveRequests(): Promise<number> {
    const tag: Body<CreateTag> = { name: "Address.email", color: "#1E90FF" };
    const created = await call<Ok<CreateTag, 201>>("POST", "/v1/tags", tag);

    const where: Path<PutResource> = { kind: "file", key: "report.pdf" };
    const parent: Body<PutResource> = { parent: { kind: "folder", key: "finance" } };
    await call<Ok<PutResource, 201>>("PUT", `/v1/resources/${where.kind}/${where.key}`, parent);

    const add: Body<AddTags> = { tags: ["Address.email"] };
    await call<Ok<AddTags, 200>>("POST", "/v1/resources/folder/finance/tags", add);

    const q: Query<GetTags> = { effective: true };
    const tags = await call<Ok<GetTags, 200>>("GET",
        `/v1/resources/file/report.pdf/tags?effective=${String(q.effective)}`);

    const since: Query<Changes> = { since: 0 };
    const changes = await call<Ok<Changes, 200>>("GET", `/v1/changes?since=${since.since}`);
    const first = changes.items[0];
    return tags.items.length + changes.items.length + (first ? first.revision : 0) +
        ("id" in created ? created.id : 0);
}
