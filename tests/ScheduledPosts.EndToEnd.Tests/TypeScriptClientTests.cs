using System.Net;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 21: a client generated from <c>/openapi.json</c> in another language works. openapi-typescript turns the
/// document into types, <c>tsc --strict</c> compiles the README walk-through (<c>TypeScriptClient/walkthrough.ts</c>,
/// openapi-fetch calls) against them — so a documented type that does not match what the code needs fails the build —
/// and node runs it against the stack. The npm packages are pinned by the folder's lock file (<c>npm ci</c> in test.sh).
/// </summary>
public sealed class TypeScriptClientTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly string Sources = Path.Combine(Suite.RepoRoot, "tests", "ScheduledPosts.EndToEnd.Tests", "TypeScriptClient");

    [Fact]
    public async Task A_client_generated_from_the_document_compiles_strictly_and_runs_the_walkthrough()
    {
        string work = Directory.CreateTempSubdirectory("sp-ts-client-").FullName;
        foreach (string file in new[] { "walkthrough.ts", "tsconfig.json", "package.json" })
        {
            File.Copy(Path.Combine(Sources, file), Path.Combine(work, file));
        }

        Directory.CreateSymbolicLink(Path.Combine(work, "node_modules"), Path.Combine(Sources, "node_modules"));
        var document = await stack.Gateway.GetAsync("/openapi.json");
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        await File.WriteAllTextAsync(Path.Combine(work, "openapi.json"), await document.Content.ReadAsStringAsync());

        await RunAsync(work, "generate the types", "node_modules/openapi-typescript/bin/cli.js", "openapi.json", "--output", "api.d.ts");
        await RunAsync(work, "compile the walk-through with tsc --strict", "node_modules/typescript/bin/tsc", "--project", "tsconfig.json");
        string output = await RunAsync(work, "run the walk-through", "out/walkthrough.js");

        var seen = JsonNode.Parse(output.Trim().Split('\n')[^1])!.AsObject();
        Assert.StartsWith("acc_", seen["account"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.StartsWith("we_", seen["endpoint"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(seen["secretLength"]!.GetValue<int>() > 20);
        Assert.Equal("scheduled", seen["created"]!.GetValue<string>());
        Assert.Equal("scheduled", seen["fetched"]!.GetValue<string>());
        Assert.True(seen["listed"]!.GetValue<bool>());
        Assert.Equal("cancelled", seen["cancelled"]!.GetValue<string>());
        Assert.Equal("CONFLICT", seen["cancelAgain"]!.GetValue<string>());
        Assert.True(seen["deleted"]!.GetValue<bool>());
        Directory.Delete(work, recursive: true); // only on success: a failure leaves the generated types to look at
    }

    private async Task<string> RunAsync(string work, string what, params string[] arguments)
    {
        var (exitCode, output, errors) = await Processes.RunAsync("node", arguments, work, new Dictionary<string, string>
        {
            ["SP_GATEWAY_URL"] = stack.Gateway.BaseAddress!.ToString().TrimEnd('/'),
            ["SP_API_KEY"] = Stack.BootstrapKey,
            ["SP_WEBHOOK_URL"] = stack.Receiver.Url.ToString(),
        });
        Assert.True(exitCode == 0, $"{what} failed ({exitCode}); files kept in {work}:\n{output}\n{errors}");
        return output;
    }
}
