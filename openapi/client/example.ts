// A small planledger client, typed with the types openapi-typescript generates from
// openapi/openapi.json (into generated/, not committed). `tsc --noEmit` in
// .ci/contract.sh checks it: a renamed path, parameter or field breaks the build here
// just as it would in the frontend team's code.
//
// It lists the adopted plans a year covers, page by page, and moves one under revision,
// sending the ETag it read as If-Match so that a concurrent change answers 412.

import type { components, paths } from "./generated/planledger-api";

type Schemas = components["schemas"];
export type PlanView = Schemas["PlanView"];
export type PlanDetail = Schemas["PlanDetail"];
export type Problem = Schemas["Problem"];
export type TransitionRequest = Schemas["TransitionRequest"];
type ListPlansQuery = NonNullable<paths["/v1/plans"]["get"]["parameters"]["query"]>;
type PlanList = paths["/v1/plans"]["get"]["responses"][200]["content"]["application/json"];
type TransitionPath = paths["/v1/plans/{id}/transitions"]["post"]["parameters"]["path"];
type Transitioned = paths["/v1/plans/{id}/transitions"]["post"]["responses"][200]["content"]["application/json"];
type TransitionConflict =
    paths["/v1/plans/{id}/transitions"]["post"]["responses"][409]["content"]["application/problem+json"];

/** A problem+json answer (RFC 9457) as an exception. */
export class ProblemError extends Error {
    constructor(readonly problem: Problem) {
        super(`${problem.status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    }
}

export class Planledger {
    constructor(
        private readonly baseUrl: string,
        private readonly token?: string,
    ) {}

    private headers(extra: Record<string, string> = {}): Record<string, string> {
        const headers: Record<string, string> = { Accept: "application/json", ...extra };
        if (this.token) headers.Authorization = `Bearer ${this.token}`;
        return headers;
    }

    private async problem(response: Response): Promise<never> {
        const problem = (await response.json()) as Problem;
        throw new ProblemError(problem);
    }

    /** One page of `GET /v1/plans`. */
    async listPlans(query: ListPlansQuery = {}): Promise<PlanList> {
        const search = new URLSearchParams();
        for (const [name, value] of Object.entries(query)) {
            if (value !== undefined && value !== null) search.set(name, String(value));
        }
        const response = await fetch(`${this.baseUrl}/v1/plans?${search}`, { headers: this.headers() });
        if (!response.ok) return this.problem(response);
        return (await response.json()) as PlanList;
    }

    /** Every plan the query selects, following `next_cursor` to the last page. */
    async *allPlans(query: Omit<ListPlansQuery, "cursor"> = {}): AsyncGenerator<PlanView> {
        let cursor: string | null | undefined;
        do {
            const page = await this.listPlans(cursor ? { ...query, cursor } : query);
            yield* page.items;
            cursor = page.next_cursor;
        } while (cursor);
    }

    /** `GET /v1/plans/{id}`: the plan with its goals and activities, and its ETag. */
    async getPlan(id: PlanView["id"]): Promise<{ plan: PlanDetail; etag: string }> {
        const response = await fetch(`${this.baseUrl}/v1/plans/${encodeURIComponent(id)}`, {
            headers: this.headers(),
        });
        if (!response.ok) return this.problem(response);
        const etag = response.headers.get("ETag");
        if (etag === null) throw new Error("a plan is answered with an ETag");
        return { plan: (await response.json()) as PlanDetail, etag };
    }

    /** `POST /v1/plans/{id}/transitions` with `If-Match`: 412 if the plan changed since `etag` was read. */
    async transition(
        id: TransitionPath["id"],
        etag: string,
        request: TransitionRequest,
    ): Promise<{ plan: Transitioned; etag: string | null }> {
        const response = await fetch(`${this.baseUrl}/v1/plans/${encodeURIComponent(id)}/transitions`, {
            method: "POST",
            headers: this.headers({ "Content-Type": "application/json", "If-Match": etag }),
            body: JSON.stringify(request),
        });
        if (response.status === 409) {
            const conflict = (await response.json()) as TransitionConflict;
            throw new ProblemError(conflict);
        }
        if (!response.ok) return this.problem(response);
        return { plan: (await response.json()) as Transitioned, etag: response.headers.get("ETag") };
    }
}

/** Lists the adopted plans covering 2016 and puts the first one under revision. */
export async function example(baseUrl: string, token: string): Promise<void> {
    const client = new Planledger(baseUrl, token);
    const adopted: PlanView[] = [];
    for await (const plan of client.allPlans({ status: "adopted", period: 2016, limit: 100 })) {
        adopted.push(plan);
        const share = Math.round(plan.progress.share_done * 100);
        console.log(`${plan.diary_number ?? "(no diary number)"}  ${plan.title}  ${share} % done`);
    }
    const first = adopted[0];
    if (first === undefined) return;
    const { plan, etag } = await client.getPlan(first.id);
    console.log(`${plan.title}: ${plan.goals.length} goals, revision ${plan.revision}`);
    try {
        const moved = await client.transition(plan.id, etag, {
            to: "under_revision",
            reason: "Årlig översyn",
        });
        console.log(`now ${moved.plan.status}, ETag ${moved.etag}`);
    } catch (error) {
        if (error instanceof ProblemError && error.problem.allowed) {
            console.log(`not allowed; the plan may move to ${error.problem.allowed.join(", ")}`);
        } else {
            throw error;
        }
    }
}
