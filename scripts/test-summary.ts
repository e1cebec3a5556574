/** Where scripts/run-suites.ts writes `{ total, passed }` for scripts/test.ts's closing line. */
export const SUMMARY_ENV = "CLASSCONNECT_TEST_SUMMARY";
