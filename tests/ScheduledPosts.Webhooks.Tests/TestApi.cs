using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ScheduledPosts.Contracts.Messages;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

public sealed record CreatedEndpoint(string Id, string Url, string Secret);

/// <summary>What the tests do through the service's REST API, as a workspace's API key would.</summary>
public static class TestApi
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public static async Task<CreatedEndpoint> CreateEndpointAsync(this WebhooksApp app, string workspace, string url, params string[] events)
    {
        using var client = app.ClientFor(workspace);
        var response = await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url, events });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return new CreatedEndpoint(json.GetProperty("id").GetString()!, url, json.GetProperty("secret").GetString()!);
    }

    public static async Task<JsonElement> GetJsonAsync(this WebhooksApp app, string workspace, string path)
    {
        using var client = app.ClientFor(workspace);
        var response = await client.GetAsync(path);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static async Task<JsonElement> PostJsonAsync(this WebhooksApp app, string workspace, string path, HttpStatusCode expected)
    {
        using var client = app.ClientFor(workspace);
        var response = await client.PostAsync(path, null);
        Assert.True(response.StatusCode == expected, $"POST {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>The endpoint's deliveries as <c>GET /v1/webhook-endpoints/{id}/deliveries</c> lists them (first page).</summary>
    public static async Task<IReadOnlyList<JsonElement>> DeliveriesAsync(this WebhooksApp app, string workspace, string endpointId, string query = "")
        => [.. (await app.GetJsonAsync(workspace, $"/v1/webhook-endpoints/{endpointId}/deliveries{query}")).GetProperty("data").EnumerateArray()];

    /// <summary>Waits until the endpoint's delivery of <paramref name="eventId"/> satisfies <paramref name="done"/>; returns it.</summary>
    public static async Task<JsonElement> WaitForDeliveryAsync(
        this WebhooksApp app, string workspace, string endpointId, string eventId, Func<JsonElement, bool> done, string what)
    {
        var delivery = await Eventually.Until(
            async () => (await app.DeliveriesAsync(workspace, endpointId)).FirstOrDefault(d => d.GetProperty("eventId").GetString() == eventId),
            d => d.ValueKind == JsonValueKind.Object && done(d), Patience, what);
        return delivery;
    }

    public static string Status(this JsonElement delivery) => delivery.GetProperty("status").GetString()!;

    public static IReadOnlyList<int?> AttemptStatusCodes(this JsonElement delivery)
        => [.. delivery.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("statusCode").ValueKind == JsonValueKind.Null ? (int?)null : a.GetProperty("statusCode").GetInt32())];

    public static async Task<IReadOnlyList<ReceivedRequest>> WaitForRequestsAsync(this Receiver receiver, string url, int count, string what, TimeSpan? timeout = null)
        => await Eventually.Until(() => Task.FromResult(receiver.RequestsTo(url)), r => r.Count >= count, timeout ?? Patience, what);

    public static PostCancelled NewEvent(string workspace, string type = "post.cancelled")
    {
        string postId = Ids.New("post");
        using var data = JsonDocument.Parse($$"""
            {"id": "{{postId}}", "workspaceId": "{{workspace}}", "status": "cancelled", "caption": "Launch day! ünïcödé <&>",
             "scheduledFor": "2026-05-25T13:00:00Z", "scheduleVersion": 3, "metadata": {"campaign": "spring"}, "targets": []}
            """);
        return new PostCancelled
        {
            EventId = Ids.New("evt"),
            Type = type,
            WorkspaceId = workspace,
            PostId = postId,
            ScheduleVersion = 3,
            OccurredAt = new DateTimeOffset(2026, 5, 25, 13, 0, 0, TimeSpan.Zero),
            Data = data.RootElement.Clone(),
        };
    }

    /// <summary>An <c>account.reauth_required</c> event of a new account of <paramref name="workspace"/>, its data as GET /v1/social-accounts/{id} shows the account.</summary>
    public static AccountReauthRequired NewAccountEvent(string workspace)
    {
        string accountId = Ids.New("acc");
        using var data = JsonDocument.Parse($$"""
            {"id": "{{accountId}}", "platform": "mastodon", "handle": "alice@mastodon.social", "displayName": "Alice ünïcödé <&>",
             "status": "reauth_required", "createdAt": "2026-05-01T09:30:00.000Z"}
            """);
        return new AccountReauthRequired
        {
            EventId = Ids.New("evt"),
            Type = "account.reauth_required",
            WorkspaceId = workspace,
            AccountId = accountId,
            OccurredAt = new DateTimeOffset(2026, 5, 25, 14, 0, 0, TimeSpan.Zero),
            Data = data.RootElement.Clone(),
        };
    }
}
