using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace ScheduledPosts.Webhooks.Tests;

/// <summary>http allowed, loopback not, but 127.0.0.2 allow-listed: a stand-in for an internal network an operator trusts.</summary>
public sealed class AllowListApp : WebhooksApp
{
    public static readonly IPAddress AllowListed = IPAddress.Parse("127.0.0.2");

    protected override IReadOnlyDictionary<string, string> Settings { get; } = new Dictionary<string, string>
    {
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowLoopback"] = "false",
        ["Webhooks:AllowedNetworks:0"] = "127.0.0.2/32",
        ["Webhooks:RetrySchedule:0"] = "00:01:00",
    };
}

public sealed class SendTimeGuardTests(AllowListApp app) : IClassFixture<AllowListApp>, IAsyncLifetime
{
    private Receiver _allowListed = null!;
    private Receiver _loopback = null!;

    public async Task InitializeAsync() => (_allowListed, _loopback) = (await Receiver.StartAsync(AllowListApp.AllowListed), await Receiver.StartAsync());

    public async Task DisposeAsync()
    {
        await _allowListed.DisposeAsync();
        await _loopback.DisposeAsync();
    }

    [Fact]
    public async Task Only_the_allow_listed_network_is_accepted_and_delivered_to()
    {
        string workspace = WebhooksApp.NewWorkspace();
        using var client = app.ClientFor(workspace);

        foreach (string refused in new[] { _loopback.NewUrl(), $"http://localhost:{_loopback.Port}/x", $"http://127.0.0.3:{_allowListed.Port}/x" })
        {
            var response = await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url = refused, events = new[] { "*" } });
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        }

        var endpoint = await app.CreateEndpointAsync(workspace, _allowListed.NewUrl(), "*");
        await app.PublishAsync(TestApi.NewEvent(workspace));
        var request = Assert.Single(await _allowListed.WaitForRequestsAsync(endpoint.Url, 1, "the webhook"));
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, [request]);
    }

    [Fact]
    public async Task A_host_that_resolves_to_loopback_at_send_time_is_refused_then()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _allowListed.NewUrl(), "*");
        // DNS rebinding: the name was fine when the endpoint was created and now resolves to loopback,
        // where something is listening.
        string rebound = $"http://localhost:{_loopback.Port}/hooks/rebound";
        await app.QuerySingleAsync<int>("UPDATE webhooks.endpoints SET url = @rebound WHERE id = @Id RETURNING 1", new { rebound, endpoint.Id });
        var e = TestApi.NewEvent(workspace);

        await app.PublishAsync(e);

        var refused = await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.GetProperty("attemptCount").GetInt32() == 1, "the refused attempt");
        var attempt = Assert.Single(refused.GetProperty("attempts").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, attempt.GetProperty("statusCode").ValueKind);
        Assert.Contains("localhost resolves to no allowed address", attempt.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Empty(_loopback.RequestsTo(rebound));
        Assert.Empty(_allowListed.RequestsTo(endpoint.Url));
    }
}
