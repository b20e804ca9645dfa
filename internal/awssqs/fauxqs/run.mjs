// Starts the fauxqs SQS emulator on loopback only (the stock CLI binds
// 0.0.0.0) and prints "fauxqs listening on http://127.0.0.1:<port>" once it
// accepts connections. PORT=0 picks a free port. The process exits when its
// standard input closes, so an emulator started by a test that crashed does
// not outlive it.
import { buildApp } from "fauxqs";

const port = Number.parseInt(process.env.PORT ?? "4566", 10);
const app = buildApp({ logger: false, defaultRegion: process.env.AWS_REGION ?? "us-east-1" });
const address = await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on ${address}`);

const stop = async () => {
  await app.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (process.env.FAUXQS_EXIT_ON_STDIN_EOF === "1") {
  process.stdin.on("end", stop);
  process.stdin.resume();
}
