using System.Diagnostics;
using ScheduledPosts.Benchmarks.Reporting;
using ScheduledPosts.Benchmarks.Scenarios;
using ScheduledPosts.Benchmarks.Stack;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks;

/// <summary>
/// <c>dotnet run -c Release --project tests/ScheduledPosts.Benchmarks -- [precision|burst|api|webhooks|auth-flood|peers|all] [--quick] [--profile] [--assert-ratios] [--env KEY=VALUE]</c>:
/// runs the real suite, prints one table, exits 1 when a scenario had errors, and with <c>--assert-ratios</c> 3 when the
/// burst is below its target ratio against Quartz.NET (<see cref="RatioCheck"/>).
/// </summary>
public static class BenchmarkProgram
{
    private static readonly string[] Scenarios = [PrecisionScenario.Name, BurstScenario.Name, ApiScenario.Name, WebhooksScenario.Name, AuthFloodScenario.Name, PeersScenario.Name];

    public static async Task<int> RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        string[] flags = ["--quick", "--profile", RatioCheck.Flag];
        for (int i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == "--env" && args[i + 1].Split('=', 2) is [var key, var value])
            {
                BenchStack.ExtraEnvironment.Add(KeyValuePair.Create(key, value));
            }
        }

        var unknown = args.Where((a, i) => !flags.Contains(a) && a != "all" && !Scenarios.Contains(a) && a != "--env" && (i == 0 || args[i - 1] != "--env")).ToList();
        if (unknown.Count > 0 || args.Contains("--help") || args.Contains("-h"))
        {
            Console.Error.WriteLine($"usage: dotnet run -c Release --project tests/ScheduledPosts.Benchmarks -- [{string.Join('|', Scenarios)}|all]... [--quick] [--profile] [{RatioCheck.Flag}] [--env KEY=VALUE]...");
            return unknown.Count > 0 ? 2 : 0;
        }

        var chosen = args.Where(Scenarios.Contains).ToHashSet();
        if (chosen.Count == 0 || args.Contains("all"))
        {
            chosen = [.. Scenarios];
        }

        bool assertRatios = args.Contains(RatioCheck.Flag);
        if (assertRatios && RatioCheck.Refusal(chosen, PeersScenario.Name) is { } refusal)
        {
            Console.Error.WriteLine(refusal);
            return 2;
        }

        // The peers' ratios need our figures from the same run.
        if (chosen.Contains(PeersScenario.Name))
        {
            chosen.Add(PrecisionScenario.Name);
            chosen.Add(BurstScenario.Name);
        }

        var sizes = (quick ? Sizes.Quick : Sizes.Full) with { Profile = args.Contains("--profile") };
        string command = $"dotnet run -c Release --project tests/ScheduledPosts.Benchmarks -- {string.Join(' ', args.DefaultIfEmpty("all"))}";
        var report = new Report();
        var total = Stopwatch.StartNew();
        await using var resources = new TestResources();
        string postgres = await resources.CreateDatabaseAsync();
        Console.WriteLine($"# ScheduledPosts benchmark{(quick ? " (--quick: small N, for CI; not the figures to quote)" : "")}");
        Console.WriteLine();
        Console.WriteLine($"command: {command}");
        Console.WriteLine($"date: {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC; commit {await GitAsync("rev-parse --short HEAD")}{(await GitAsync("status --porcelain") is { Length: > 0 } ? " (with uncommitted changes)" : "")}");
        Console.WriteLine(await Machine.DescribeAsync(postgres));
        Console.WriteLine("everything runs on this one machine: PostgreSQL, RabbitMQ, the five processes of the suite, the load generator, the peers.");
        Console.WriteLine();

        await using var stacks = new StackSource(share: quick);
        LagResult? precision = null;
        BurstResult? burst = null;
        IReadOnlyDictionary<string, BurstResult?>? peerBursts = null;
        foreach (string scenario in Scenarios.Where(chosen.Contains))
        {
            var watch = Stopwatch.StartNew();
            Log.Step($"{scenario}: running");
            try
            {
                switch (scenario)
                {
                    case PrecisionScenario.Name:
                        precision = await PrecisionScenario.RunAsync(sizes, report, stacks);
                        break;
                    case BurstScenario.Name:
                        burst = await BurstScenario.RunAsync(sizes, report, stacks);
                        break;
                    case ApiScenario.Name:
                        await ApiScenario.RunAsync(sizes, report, stacks);
                        break;
                    case WebhooksScenario.Name:
                        await WebhooksScenario.RunAsync(sizes, report, stacks);
                        break;
                    case AuthFloodScenario.Name:
                        await AuthFloodScenario.RunAsync(report, stacks);
                        break;
                    case PeersScenario.Name when precision is not null && burst is not null:
                        peerBursts = await PeersScenario.RunAsync(sizes, report, precision, burst);
                        break;
                    case PeersScenario.Name:
                        report.Errors.Add("peers: skipped, our own precision or burst run failed, so there is nothing to compare with");
                        break;
                }
            }
            catch (Exception e)
            {
                report.Errors.Add($"{scenario}: {e.GetType().Name}: {e.Message}");
            }

            Log.Step($"{scenario}: done in {watch.Elapsed.TotalSeconds:0} s");
        }

        report.Notes.Insert(0, BenchStack.ConfigurationNote);
        if (BenchStack.ExtraEnvironment.Count > 0)
        {
            report.Notes.Insert(1, $"--env: every service ran with {string.Join(", ", BenchStack.ExtraEnvironment.Select(e => $"{e.Key}={e.Value}"))}; these are not the shipped settings.");
        }

        if (stacks.Shared)
        {
            report.Notes.Insert(1, "--quick: one suite serves every scenario (a fresh one each in a full run), so memory and CPU figures include what earlier scenarios left behind.");
        }

        Console.WriteLine(report.Render());
        Console.WriteLine($"total time {total.Elapsed.TotalSeconds:0} s");
        var ratio = assertRatios ? RatioCheck.BurstAgainstQuartz(burst?.PerSecond, peerBursts?.GetValueOrDefault("Quartz.NET")?.PerSecond) : null;
        if (ratio is not null)
        {
            Console.WriteLine();
            Console.WriteLine($"{RatioCheck.Flag}: {ratio.Line}");
        }

        if (report.Errors.Count > 0)
        {
            Console.WriteLine();
            Console.WriteLine($"ERRORS ({report.Errors.Count}; the services' warnings and errors of each scenario are in {BenchStack.LogDirectory}):");
            foreach (string error in report.Errors)
            {
                Console.WriteLine($"- {error}");
            }

            return 1;
        }

        return ratio is { Met: false } ? RatioCheck.BelowTarget : 0;
    }

    private static async Task<string> GitAsync(string arguments)
    {
        try
        {
            var info = new ProcessStartInfo("git", arguments) { WorkingDirectory = Suite.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true };
            using var git = Process.Start(info)!;
            string output = await git.StandardOutput.ReadToEndAsync();
            await git.WaitForExitAsync();
            return git.ExitCode == 0 ? output.Trim() : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
