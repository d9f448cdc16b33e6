import { test, eq } from "../test/harness";
import { passwordProblem } from "./account";

test("account: a claim password is 8 to 72 UTF-8 bytes, typed twice alike", () => {
  const cases: [string, string, string][] = [
    ["", "", "a password is 8 to 72 bytes"],
    ["1234567", "1234567", "a password is 8 to 72 bytes"],
    ["12345678", "12345678", ""],
    ["x".repeat(72), "x".repeat(72), ""],
    ["x".repeat(73), "x".repeat(73), "a password is 8 to 72 bytes"],
    ["ñandú", "ñandú", "a password is 8 to 72 bytes"], // 7 bytes, 5 characters
    ["ñandúñ", "ñandúñ", ""], // 9 bytes, 6 characters
    ["é".repeat(37), "é".repeat(37), "a password is 8 to 72 bytes"], // 74 bytes, 37 characters
    ["correct horse", "correct horsE", "the passwords do not match"],
  ];
  for (const [pw, again, want] of cases) eq(passwordProblem(pw, again), want, JSON.stringify(pw));
});
