// Reads [{secret, headers, body}] as JSON on stdin; writes [null | "why it failed"] as JSON on stdout.
// Verification is the reference library's own, including its 5-minute timestamp tolerance.
const { Webhook } = require("standardwebhooks");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map(({ secret, headers, body }) => {
    try {
      new Webhook(secret).verify(body, headers);
      return null;
    } catch (e) {
      return `${e.name}: ${e.message}`;
    }
  });
  process.stdout.write(JSON.stringify(results));
});
