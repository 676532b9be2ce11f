// A stand-in benchmark that fails, for the bench/run tests.
console.error("broken: the peer is not installed");
Deno.exit(3);
