// Type-checked with `tsc --noEmit --strict` against the generated declarations:
// fails when a declaration goes missing or no longer fits how the API is used.
import { Crm, type CrmError, type Deal, type Effect, type EventEnvelope, type NewDeal, type Outcome, type Drawing, type Report, type ReportRequest } from "../pkg/node/crm_core.js";

const crm: Crm = new Crm(1);
const withOptions: Crm = new Crm(2, { default_region: "DE", max_cascade_depth: 4 });
const now = new Date();

const outcome: Outcome = crm.execute("system", now, { type: "create_user", name: "Olga", role: "admin" });
const admin: string | undefined = outcome.created;
const pipeline: string = crm.createPipeline("usr-1-1", "2026-11-27T09:00:00Z", {
  name: "Windows",
  stages: [{ name: "New" }, { name: "Done", kind: "won", probability: 100 }],
  lost_reasons: ["Too expensive"],
});
const input: NewDeal = { title: "3 windows", pipeline, amount: { amount: "1250.00", currency: "EUR" } };
const deal: string = crm.createDeal("usr-1-1", now, input);
crm.moveDeal("usr-1-1", now, deal, "stg-1-3");
crm.moveDeal("usr-1-1", now, deal, "stg-1-4", "Too expensive");
const all: Deal[] = crm.listDeals("usr-1-1");
const won: Deal[] = crm.listDeals("usr-1-1", { status: "won", limit: 10 });
const firstAmount: string | undefined = won[0]?.amount?.amount;
const events: EventEnvelope[] = crm.events();
const since: EventEnvelope[] = crm.events(3);
const copy: Crm = Crm.replay(1, events, { default_region: "DE" });
copy.importEvents(crm.events(copy.lastSeq + 1));
const seq: number = copy.lastSeq;
const text: string = crm.queryJson("usr-1-1", "2026-11-27T09:00:00Z", '{"type":"list_deals"}');
const ticked: Outcome = crm.tick(now);
const wakeup: string | undefined = crm.nextWakeup();
const pending: Effect[] = crm.drainOutbox();
const acked: Outcome = crm.ack(now, pending.map((effect) => effect.id));
const rule: string | undefined = ticked.events[0]?.rule;
const request: ReportRequest = { report: "revenue", by: "quarter", from: "2026-01-01", convert: { to: "EUR", rates: {} } };
const report: Report = crm.report("usr-1-1", now, request);
const drawing: Drawing = crm.chart("usr-1-1", now, request);
const picture: string = drawing.svg;

function handle(err: unknown): string {
  const crmError = err as CrmError;
  return `${crmError.name} ${crmError.code} ${crmError.message}`;
}

export { acked, admin, all, firstAmount, handle, picture, report, rule, seq, since, text, wakeup, withOptions };
