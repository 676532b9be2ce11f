// A stand-in benchmark that exits 0 without recording a run, for the bench/run tests.
console.log("silent: nothing measured");
