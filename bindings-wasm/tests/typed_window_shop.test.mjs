// Runs the window shop written with the generated types (window_shop.ts), as compiled
// by `tsc -p tests/tsconfig.run.json` (scripts/test-all does it before the tests).
import test from "node:test";

import { windowShop } from "../.ts-out/window_shop.js";

test("the window shop runs with every command and query typed", () => {
  windowShop();
});
