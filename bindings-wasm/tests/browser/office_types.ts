// The browser modules' declarations, used as a page would: checked by `tsc --strict`
// (tsconfig.browser.json) in the browser suite, after scripts/build-web made pkg/web.
import { load, loadFull, Office, CrmError, needsFullBuild, type OfficeStatus } from "../../js/browser.js";

export async function openOffice(key: string): Promise<OfficeStatus> {
  const office = await Office.open({ engine: await load(), loadFull, key, pollSeconds: 5, retryMaxSeconds: 10 });
  const deals = office.query({ type: "list_deals", limit: 10 });
  const first: string | undefined = deals.items[0]?.id;
  if (first !== undefined) await office.execute({ type: "move_deal", id: first, stage: "stg-1-2" });
  const synced: "synced" | "busy" | "failed" = await office.sync();
  try {
    await office.execute({ type: "create_contact", name: "A", phones: ["12"] });
  } catch (error) {
    if (error instanceof CrmError) console.log(error.code, error.field ?? "", synced);
  }
  console.log(needsFullBuild({ type: "receive_email", raw: "" }), office.pending().length, office.user);
  return office.status;
}
