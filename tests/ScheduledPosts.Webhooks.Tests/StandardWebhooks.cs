using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>
/// The independent verifier: the Standard Webhooks reference library (npm <c>standardwebhooks</c>, pinned in
/// StandardWebhooks/package-lock.json) run by node, so signatures are checked by code that shares nothing with the
/// service's signer. Installed with <c>npm ci</c> on first use unless the test script has done it already.
/// </summary>
public static class StandardWebhooks
{
    private static readonly string VerifierDirectory = typeof(StandardWebhooks).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "StandardWebhooksDirectory").Value!;

    private static readonly Lazy<Task> Installed = new(InstallAsync);

    /// <summary>For each (secret, request): null when the library verifies the request with that secret, else the library's error.</summary>
    public static async Task<IReadOnlyList<string?>> VerifyAsync(IReadOnlyList<(string Secret, ReceivedRequest Request)> checks)
    {
        await Installed.Value;
        string input = JsonSerializer.Serialize(checks.Select(c => new { secret = c.Secret, headers = c.Request.Headers, body = c.Request.Body }));
        var (exitCode, output, errors) = await RunAsync("node", "verify.js", input, TimeSpan.FromSeconds(60));
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"node verify.js exited with {exitCode}: {errors}");
        }

        var results = JsonSerializer.Deserialize<string?[]>(output)!;
        Assert.Equal(checks.Count, results.Length);
        return results;
    }

    public static async Task AssertVerifiesAsync(string secret, IEnumerable<ReceivedRequest> requests)
    {
        var all = requests.ToList();
        Assert.NotEmpty(all);
        var results = await VerifyAsync([.. all.Select(r => (secret, r))]);
        Assert.All(results, error => Assert.Null(error));
    }

    public static async Task AssertRejectsAsync(string secret, ReceivedRequest request)
    {
        var error = (await VerifyAsync([(secret, request)]))[0];
        Assert.Equal("WebhookVerificationError: No matching signature found", error);
    }

    private static async Task InstallAsync()
    {
        if (File.Exists(Path.Combine(VerifierDirectory, "node_modules", "standardwebhooks", "package.json")))
        {
            return;
        }

        var (exitCode, output, errors) = await RunAsync("npm", "ci --no-audit --no-fund", "", TimeSpan.FromMinutes(3));
        if (exitCode != 0)
        {
            throw new InvalidOperationException($"npm ci in {VerifierDirectory} failed ({exitCode}): {output}\n{errors}");
        }
    }

    private static async Task<(int ExitCode, string Output, string Errors)> RunAsync(string command, string arguments, string input, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(command, arguments)
        {
            WorkingDirectory = VerifierDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start.");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{command} {arguments} did not finish within {timeout}.");
        }

        return (process.ExitCode, await output, await errors);
    }
}
