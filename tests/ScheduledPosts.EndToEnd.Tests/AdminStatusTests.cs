using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// <c>GET /admin/status</c> through the real gateway (docs/operations.md#admin-status): with the admin token, after posts
/// publish, it shows the lag percentiles with their samples, the broker's queues (read by the scheduling service's own
/// monitor user), the backlogs and the webhook endpoints' health; without the token, and with any API key, a 401.
/// </summary>
public sealed class AdminStatusTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task After_posts_publish_it_shows_the_lag_with_its_samples_the_queues_the_backlogs_and_the_endpoints_health()
    {
        // Three endpoints on post.published: one that answers, one that cannot be reached, one its owner switched off.
        var answering = await stack.Gateway.CreatedAsync("/v1/webhook-endpoints", new { url = stack.Receiver.Url.ToString(), events = new[] { "post.published" } });
        await stack.Gateway.CreatedAsync("/v1/webhook-endpoints", new { url = $"http://127.0.0.1:{Suite.FreePort()}/hook", events = new[] { "post.published" } });
        var off = await stack.Gateway.CreatedAsync("/v1/webhook-endpoints", new { url = stack.Receiver.Url.ToString(), events = new[] { "post.published" } });
        var patch = await stack.Gateway.PatchAsJsonAsync($"/v1/webhook-endpoints/{off["id"]!.GetValue<string>()}", new { enabled = false });
        Assert.True(patch.IsSuccessStatusCode, await patch.Content.ReadAsStringAsync());

        string account = await stack.ConnectSandboxAccountAsync($"status-{Guid.NewGuid():N}");
        var due = DateTimeOffset.UtcNow.AddSeconds(1);
        string[] posts = [
            (await stack.CreatePostAsync("Status one", account, due))["id"]!.GetValue<string>(),
            (await stack.CreatePostAsync("Status two", account, due))["id"]!.GetValue<string>(),
        ];
        foreach (string post in posts)
        {
            await Eventually.Until(() => stack.GetPostAsync(post), p => p["status"]!.GetValue<string>() == "published", Patience, $"{post} to be published");
        }

        // The answering endpoint got its webhooks, the unreachable one has failed at least once, and the management API's
        // figures (which lag a few seconds) show the publisher consuming and target-due emptied.
        var status = await Eventually.Until(StatusAsync, s =>
                s["webhooks"]?["endpoints"]?["failing"]?.GetValue<long>() == 1
                && s["webhooks"]!["deliveries"]!["due"]!.GetValue<long>() == 0
                && Queue(s, "target-due") is { } due && due["consumers"]!.GetValue<int>() == 1
                && due["ready"]!.GetValue<long>() == 0 && due["unacknowledged"]!.GetValue<long>() == 0
                && stack.Receiver.Received.Count(w => w.Headers.GetValueOrDefault("webhook-id") is not null) >= 2,
            Patience, "the status to show the failing endpoint and the publisher consuming");
        string json = status.ToJsonString();

        Assert.Empty(status["unavailable"]!.AsArray());
        var scheduling = status["scheduling"]!;

        var queues = scheduling["queues"]!;
        Assert.True(queues["available"]!.GetValue<bool>(), json);
        Assert.Equal(0, queues["errorMessages"]!.GetValue<long>());
        var targetDue = Queue(status, "target-due")!;
        Assert.Equal((0, 0, false), (targetDue["ready"]!.GetValue<long>(), targetDue["unacknowledged"]!.GetValue<long>(), targetDue["errorQueue"]!.GetValue<bool>()));
        Assert.True(Queue(status, "webhooks-post-events") is not null, json);

        // Both targets were dispatched and claimed in the window: a sample each, with percentiles in order.
        var lag = scheduling["lag"]!;
        var claimed = lag["dueToClaimed"]!;
        Assert.Equal(2, claimed["samples"]!.GetValue<long>());
        Assert.True(lag["dueToDispatched"]!["samples"]!.GetValue<long>() >= 2, json);
        foreach (var percentiles in new[] { claimed, lag["dueToDispatched"]! })
        {
            double p50 = percentiles["p50"]!.GetValue<double>(), p95 = percentiles["p95"]!.GetValue<double>(), p99 = percentiles["p99"]!.GetValue<double>();
            Assert.True(p50 >= 0 && p50 <= p95 && p95 <= p99 && p99 < 60, json);
        }

        var targets = scheduling["targets"]!;
        Assert.Equal((0L, 0L, 0L), (targets["scheduled"]!.GetValue<long>(), targets["publishing"]!.GetValue<long>(), targets["overdue"]!.GetValue<long>()));

        var endpoints = status["webhooks"]!["endpoints"]!;
        Assert.Equal((3L, 1L, 1L), (endpoints["total"]!.GetValue<long>(), endpoints["disabled"]!.GetValue<long>(), endpoints["failing"]!.GetValue<long>()));
        Assert.True(endpoints["longestFailingSeconds"]!.GetValue<double>() > 0, json);
        // The unreachable endpoint's delivery waits for its retry.
        Assert.True(status["webhooks"]!["deliveries"]!["pending"]!.GetValue<long>() >= 1, json);

        // Counts only: no id of a workspace, account, post, target or endpoint, and no endpoint URL.
        foreach (string id in posts.Append(account).Append(answering["id"]!.GetValue<string>()))
        {
            Assert.DoesNotContain(id, json, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("127.0.0.1", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_admin_token_it_is_a_401_in_the_error_envelope_and_no_api_key_can_read_it()
    {
        var workspace = await stack.NewWorkspaceAsync("status-reader");
        var attempts = new (string What, HttpClient Client)[]
        {
            ("no credentials", stack.NewGatewayClient()),
            ("a wrong token", stack.ClientWithKey("not-the-admin-token-0123456789-abcdefghij")),
            ("the bootstrap owner key", stack.ClientWithKey(Stack.BootstrapKey)),
            ("a new workspace's owner key", workspace),
        };
        foreach (var (what, client) in attempts)
        {
            var response = await client.GetAsync("/admin/status");
            Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{what}: {(int)response.StatusCode}");
            Assert.Equal("UNAUTHENTICATED", await response.EnvelopeCodeAsync($"GET /admin/status with {what}"));
            client.Dispose();
        }

        // The API key in its other header is no admin token either.
        using var header = stack.NewGatewayClient();
        header.DefaultRequestHeaders.Add("X-Api-Key", Stack.BootstrapKey);
        var withHeader = await header.GetAsync("/admin/status");
        Assert.Equal(HttpStatusCode.Unauthorized, withHeader.StatusCode);
        Assert.Equal("UNAUTHENTICATED", await withHeader.EnvelopeCodeAsync("GET /admin/status with X-Api-Key"));
    }

    private async Task<JsonObject> StatusAsync()
    {
        using var admin = stack.NewGatewayClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Stack.AdminToken);
        var response = await admin.GetAsync("/admin/status");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    private static JsonNode? Queue(JsonObject status, string name)
        => status["scheduling"]?["queues"]?["data"]?.AsArray().FirstOrDefault(q => q!["name"]!.GetValue<string>() == name);
}
