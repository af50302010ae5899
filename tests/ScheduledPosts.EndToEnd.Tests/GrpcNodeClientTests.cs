using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Issue 13: a client in another language that has only the <c>.proto</c> files. Node's <c>@grpc/grpc-js</c> with
/// <c>@grpc/proto-loader</c> (<c>GrpcNodeClient/client.js</c>) creates, lists, reschedules, cancels and deletes posts
/// through the gateway's gRPC port and reads the typed errors; REST then shows the same posts. The npm packages are
/// pinned by the folder's lock file (<c>npm ci</c> in test.sh).
/// </summary>
public sealed class GrpcNodeClientTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly string Client = Path.Combine(Suite.RepoRoot, "tests", "ScheduledPosts.EndToEnd.Tests", "GrpcNodeClient");

    [Fact]
    public async Task A_node_client_with_only_the_protos_drives_posts_through_the_gateway_and_reads_typed_errors()
    {
        var (exitCode, output, errors) = await Processes.RunAsync("node", ["client.js"], Client, new Dictionary<string, string>
        {
            ["SP_PROTOS"] = Path.Combine(Suite.RepoRoot, "protos"),
            ["SP_GATEWAY_GRPC"] = stack.GatewayGrpcUrl.Authority,
            ["SP_API_KEY"] = Stack.BootstrapKey,
        });
        Assert.True(exitCode == 0, $"client.js failed ({exitCode}):\n{output}\n{errors}\n{stack.Logs}");
        var seen = JsonNode.Parse(output.Trim().Split('\n')[^1])!.AsObject();

        Assert.StartsWith("acc_", seen["account"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("POST_STATUS_SCHEDULED", seen["created"]!.GetValue<string>());
        Assert.Equal("TARGET_STATUS_SCHEDULED", seen["target"]!.GetValue<string>());
        Assert.True(seen["listed"]!.GetValue<bool>());
        Assert.Equal("2", seen["rescheduledVersion"]!.GetValue<string>());
        Assert.Equal("POST_STATUS_CANCELLED", seen["cancelled"]!.GetValue<string>());
        Assert.Equal(["TARGET_STATUS_DRAFT"], seen["deletedTargets"]!.AsArray().Select(s => s!.GetValue<string>()));
        AssertError(seen["cancelAgain"]!, "FAILED_PRECONDITION", "CONFLICT");
        AssertError(seen["pastTime"]!, "INVALID_ARGUMENT", "VALIDATION");
        Assert.Equal(["scheduled_for"], seen["pastTime"]!["fields"]!.AsArray().Select(f => f!.GetValue<string>()));
        AssertError(seen["staleEtag"]!, "ABORTED", "PRECONDITION_FAILED");
        AssertError(seen["noKey"]!, "UNAUTHENTICATED", "UNAUTHENTICATED");

        // The same posts over REST.
        string postId = seen["post"]!.GetValue<string>();
        var post = await stack.GetPostAsync(postId);
        Assert.Equal("cancelled", post["status"]!.GetValue<string>());
        Assert.Equal(2, post["scheduleVersion"]!.GetValue<long>());
        Assert.Equal(seen["rescheduledFor"]!.GetValue<long>(), DateTimeOffset.Parse(post["scheduledFor"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeSeconds());
        Assert.Equal("node", post["metadata"]!["from"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, (await stack.Gateway.GetAsync($"/v1/posts/{seen["deleted"]!.GetValue<string>()}")).StatusCode);
        var accounts = (await stack.Gateway.GetFromJsonAsync<JsonObject>("/v1/social-accounts"))!["data"]!.AsArray();
        Assert.Contains(accounts, a => a!["id"]!.GetValue<string>() == seen["account"]!.GetValue<string>());
    }

    private static void AssertError(JsonNode error, string code, string reason)
    {
        Assert.Equal(code, error["code"]!.GetValue<string>());
        Assert.Equal(reason, error["reason"]!.GetValue<string>());
        Assert.Equal("scheduledposts", error["domain"]!.GetValue<string>());
    }
}
