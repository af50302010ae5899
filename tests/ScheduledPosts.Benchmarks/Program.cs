using ScheduledPosts.Benchmarks;

return await BenchmarkProgram.RunAsync(args);
