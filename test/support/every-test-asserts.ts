/**
 * Jest setupFilesAfterEnv: a test that makes no assertion fails ("Expected at least one assertion
 * to be called but received none"), so a test cannot pass by proving nothing. A test that only
 * waits for a condition must still say what it saw with an expect().
 */
beforeEach(() => {
  expect.hasAssertions();
});
