using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Grpc.Net.Client;
using ScheduledPosts.Contracts.Webhooks.V1;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Webhooks.Tests;

public sealed class DeliveryTests(DeliveringWebhooksApp app) : IClassFixture<DeliveringWebhooksApp>, IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TestApi.Patience;
    private Receiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await Receiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task An_event_reaches_each_subscribed_endpoint_signed_with_that_endpoints_secret()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var cancelled = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var everything = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var publishedOnly = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.published");
        var otherWorkspace = await app.CreateEndpointAsync(WebhooksApp.NewWorkspace(), _receiver.NewUrl(), "*");
        var e = TestApi.NewEvent(workspace);

        await app.PublishAsync(e);

        var toCancelled = Assert.Single(await _receiver.WaitForRequestsAsync(cancelled.Url, 1, "the webhook"));
        var toEverything = Assert.Single(await _receiver.WaitForRequestsAsync(everything.Url, 1, "the webhook"));
        foreach (var request in new[] { toCancelled, toEverything })
        {
            Assert.Equal("POST", request.Method);
            Assert.Equal("application/json", request.ContentType);
            Assert.Equal(e.EventId, request.Header("webhook-id"));
            long timestamp = long.Parse(request.Header("webhook-timestamp"), System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - timestamp, -5, 60);

            using var body = JsonDocument.Parse(request.Body);
            Assert.Equal(["id", "type", "timestamp", "data"], body.RootElement.EnumerateObject().Select(p => p.Name));
            Assert.Equal(e.EventId, body.RootElement.GetProperty("id").GetString());
            Assert.Equal("post.cancelled", body.RootElement.GetProperty("type").GetString());
            Assert.Equal("2026-05-25T13:00:00.000Z", body.RootElement.GetProperty("timestamp").GetString());
            Assert.True(JsonElement.DeepEquals(e.Data, body.RootElement.GetProperty("data")), body.RootElement.GetProperty("data").GetRawText());
        }

        // The reference library accepts each endpoint's webhook with that endpoint's secret, and not with the other's.
        Assert.Equal([null, null, "WebhookVerificationError: No matching signature found", "WebhookVerificationError: No matching signature found"],
            await StandardWebhooks.VerifyAsync([
                (cancelled.Secret, toCancelled), (everything.Secret, toEverything),
                (everything.Secret, toCancelled), (cancelled.Secret, toEverything)]));

        // The fan-out commits in one transaction, so once anything was delivered every delivery exists.
        Assert.Equal(2, await app.QuerySingleAsync<int>("SELECT count(*)::int FROM webhooks.deliveries WHERE event_id = @EventId", new { e.EventId }));
        Assert.Empty(_receiver.RequestsTo(publishedOnly.Url));
        Assert.Empty(_receiver.RequestsTo(otherWorkspace.Url));
    }

    [Fact]
    public async Task The_same_event_consumed_twice_is_delivered_once()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.cancelled");
        var e = TestApi.NewEvent(workspace);

        await Task.WhenAll(app.PublishAsync(e), app.PublishAsync(e));

        await Eventually.Until(() => Task.FromResult(app.Consumed.Count(e.EventId)), n => n == 2, Timeout, "both copies consumed");
        await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "delivered", "delivered");
        Assert.Single(await app.DeliveriesAsync(workspace, endpoint.Id));
        Assert.Single(_receiver.RequestsTo(endpoint.Url));
    }

    [Fact]
    public async Task A_500_then_a_200_makes_two_attempts_with_one_webhook_id()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500), "*");
        var e = TestApi.NewEvent(workspace);

        await app.PublishAsync(e);

        var delivery = await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "delivered", "delivered");
        var received = _receiver.RequestsTo(endpoint.Url);
        Assert.Equal(2, received.Count);
        Assert.All(received, r => Assert.Equal(e.EventId, r.Header("webhook-id")));
        Assert.Equal(received[0].Body, received[1].Body);
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, received);

        Assert.Equal(2, delivery.GetProperty("attemptCount").GetInt32());
        Assert.Equal([500, 200], delivery.AttemptStatusCodes());
        Assert.Equal([1, 2], delivery.GetProperty("attempts").EnumerateArray().Select(a => a.GetProperty("attempt").GetInt32()));
        Assert.All(delivery.GetProperty("attempts").EnumerateArray(), a =>
        {
            Assert.True(a.GetProperty("latencyMs").GetInt32() >= 0);
            Assert.Equal(JsonValueKind.Null, a.GetProperty("error").ValueKind);
        });
        Assert.Equal(JsonValueKind.Null, delivery.GetProperty("nextAttemptAt").ValueKind);
    }

    [Fact]
    public async Task Gone_disables_the_endpoint_and_later_events_are_not_sent_to_it()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(410), "*");
        var first = TestApi.NewEvent(workspace);

        await app.PublishAsync(first);

        var delivery = await app.WaitForDeliveryAsync(workspace, endpoint.Id, first.EventId, d => d.Status() == "failed", "failed");
        Assert.Equal([410], delivery.AttemptStatusCodes());
        var json = await app.GetJsonAsync(workspace, $"/v1/webhook-endpoints/{endpoint.Id}");
        Assert.False(json.GetProperty("enabled").GetBoolean());
        Assert.Equal("The endpoint answered 410 Gone.", json.GetProperty("disabledReason").GetString());

        var second = TestApi.NewEvent(workspace);
        await app.PublishAsync(second);
        await Eventually.Until(() => Task.FromResult(app.Consumed.Count(second.EventId)), n => n == 1, Timeout, "the second event consumed");
        Assert.Single(await app.DeliveriesAsync(workspace, endpoint.Id));
        Assert.Single(_receiver.RequestsTo(endpoint.Url));
    }

    [Fact]
    public async Task A_test_event_goes_to_that_endpoint_only_whatever_it_subscribes_to()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "post.published");
        var sibling = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        using var client = app.ClientFor(workspace);

        var response = await client.PostAsync($"/v1/webhook-endpoints/{endpoint.Id}/test", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        string deliveryId = accepted.GetProperty("id").GetString()!;
        Assert.StartsWith("dlv_", deliveryId, StringComparison.Ordinal);
        Assert.Equal($"/v1/webhook-deliveries/{deliveryId}", response.Headers.Location?.OriginalString);
        Assert.Equal("webhook.test", accepted.GetProperty("eventType").GetString());

        var request = Assert.Single(await _receiver.WaitForRequestsAsync(endpoint.Url, 1, "the test event"));
        using var body = JsonDocument.Parse(request.Body);
        Assert.Equal("webhook.test", body.RootElement.GetProperty("type").GetString());
        Assert.Equal(endpoint.Id, body.RootElement.GetProperty("data").GetProperty("endpointId").GetString());
        Assert.Equal(accepted.GetProperty("eventId").GetString(), request.Header("webhook-id"));
        Assert.Equal(body.RootElement.GetProperty("id").GetString(), request.Header("webhook-id"));
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, [request]);

        var delivered = await Eventually.Until(() => app.GetJsonAsync(workspace, $"/v1/webhook-deliveries/{deliveryId}"),
            d => d.Status() == "delivered", Timeout, "the test delivery delivered");
        Assert.Equal([200], delivered.AttemptStatusCodes());
        Assert.Empty(_receiver.RequestsTo(sibling.Url));
    }

    [Fact]
    public async Task A_failed_delivery_is_listed_with_its_attempts_and_redelivers_with_the_same_webhook_id()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500, 502, 503), "*");
        var e = TestApi.NewEvent(workspace);

        await app.PublishAsync(e);

        // One attempt and two retries (the schedule of this app), then failed.
        var failed = await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "failed", "failed");
        Assert.Equal([500, 502, 503], failed.AttemptStatusCodes());
        string deliveryId = failed.GetProperty("id").GetString()!;
        Assert.Equal(deliveryId, Assert.Single(await app.DeliveriesAsync(workspace, endpoint.Id, "?status=failed")).GetProperty("id").GetString());
        Assert.Empty(await app.DeliveriesAsync(workspace, endpoint.Id, "?status=delivered"));

        var redelivering = await app.PostJsonAsync(workspace, $"/v1/webhook-deliveries/{deliveryId}/redeliver", HttpStatusCode.Accepted);
        Assert.Equal("pending", redelivering.Status());

        var delivered = await Eventually.Until(() => app.GetJsonAsync(workspace, $"/v1/webhook-deliveries/{deliveryId}"),
            d => d.Status() == "delivered", Timeout, "redelivered");
        Assert.Equal([500, 502, 503, 200], delivered.AttemptStatusCodes());
        Assert.Equal(4, delivered.GetProperty("attemptCount").GetInt32());
        var received = _receiver.RequestsTo(endpoint.Url);
        Assert.Equal(4, received.Count);
        Assert.All(received, r => Assert.Equal(e.EventId, r.Header("webhook-id")));
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, received);
        Assert.Single(await app.DeliveriesAsync(workspace, endpoint.Id, "?status=delivered"));
        Assert.Empty(await app.DeliveriesAsync(workspace, endpoint.Id, "?status=failed"));
    }

    [Fact]
    public async Task Deliveries_are_listed_newest_first_a_page_at_a_time()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var events = Enumerable.Range(0, 5).Select(_ => TestApi.NewEvent(workspace)).ToList();

        await Task.WhenAll(events.Select(app.PublishAsync));
        await _receiver.WaitForRequestsAsync(endpoint.Url, 5, "five webhooks");

        var pages = new List<JsonElement>();
        string query = "?limit=2";
        while (true)
        {
            var page = await app.GetJsonAsync(workspace, $"/v1/webhook-endpoints/{endpoint.Id}/deliveries{query}");
            pages.Add(page);
            if (!page.GetProperty("hasMore").GetBoolean())
            {
                Assert.Equal(JsonValueKind.Null, page.GetProperty("nextCursor").ValueKind);
                break;
            }

            query = $"?limit=2&cursor={Uri.EscapeDataString(page.GetProperty("nextCursor").GetString()!)}";
        }

        Assert.Equal([2, 2, 1], pages.Select(p => p.GetProperty("data").GetArrayLength()));
        var listed = pages.SelectMany(p => p.GetProperty("data").EnumerateArray()).ToList();
        Assert.Equal(events.Select(e => e.EventId).Order(), listed.Select(d => d.GetProperty("eventId").GetString()).Order());
        Assert.Equal(5, listed.Select(d => d.GetProperty("id").GetString()).Distinct().Count());
        var created = listed.Select(d => d.GetProperty("createdAt").GetDateTimeOffset()).ToList();
        Assert.Equal(created.OrderDescending(), created);
    }

    [Fact]
    public async Task During_a_rotation_webhooks_verify_with_the_old_and_the_new_secret()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var rotated = await app.PostJsonAsync(workspace, $"/v1/webhook-endpoints/{endpoint.Id}/rotate-secret", HttpStatusCode.OK);
        string newSecret = rotated.GetProperty("secret").GetString()!;
        Assert.NotEqual(endpoint.Secret, newSecret);
        Assert.InRange(rotated.GetProperty("previousSecretExpiresAt").GetDateTimeOffset() - DateTimeOffset.UtcNow,
            TimeSpan.FromHours(23.9), TimeSpan.FromHours(24));
        var e = TestApi.NewEvent(workspace);

        await app.PublishAsync(e);

        var request = Assert.Single(await _receiver.WaitForRequestsAsync(endpoint.Url, 1, "the webhook"));
        Assert.Equal(2, request.Header("webhook-signature").Split(' ').Length);
        await StandardWebhooks.AssertVerifiesAsync(endpoint.Secret, [request]);
        await StandardWebhooks.AssertVerifiesAsync(newSecret, [request]);
        await StandardWebhooks.AssertRejectsAsync(Signing.WebhookSignature.NewSecret(), request);

        // A second rotation retires the first secret: only the last two sign.
        var again = await app.PostJsonAsync(workspace, $"/v1/webhook-endpoints/{endpoint.Id}/rotate-secret", HttpStatusCode.OK);
        using var client = app.ClientFor(workspace);
        var test = await client.PostAsync($"/v1/webhook-endpoints/{endpoint.Id}/test", null);
        Assert.Equal(HttpStatusCode.Accepted, test.StatusCode);
        var second = (await _receiver.WaitForRequestsAsync(endpoint.Url, 2, "the test event"))[1];
        await StandardWebhooks.AssertVerifiesAsync(again.GetProperty("secret").GetString()!, [second]);
        await StandardWebhooks.AssertVerifiesAsync(newSecret, [second]);
        await StandardWebhooks.AssertRejectsAsync(endpoint.Secret, second);
    }

    [Fact]
    public async Task Secrets_are_encrypted_at_rest_and_appear_in_no_log_or_later_response()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(500), "*");
        var rotated = await app.PostJsonAsync(workspace, $"/v1/webhook-endpoints/{endpoint.Id}/rotate-secret", HttpStatusCode.OK);
        string[] secrets = [endpoint.Secret, rotated.GetProperty("secret").GetString()!];
        var e = TestApi.NewEvent(workspace);
        await app.PublishAsync(e);
        await app.WaitForDeliveryAsync(workspace, endpoint.Id, e.EventId, d => d.Status() == "delivered", "delivered after a retry");

        using var client = app.ClientFor(workspace);
        var patched = await client.PatchAsJsonAsync($"/v1/webhook-endpoints/{endpoint.Id}", new { description = "after rotation" });
        string[] laterResponses =
        [
            await patched.Content.ReadAsStringAsync(),
            await client.GetStringAsync($"/v1/webhook-endpoints/{endpoint.Id}"),
            await client.GetStringAsync("/v1/webhook-endpoints"),
            await client.GetStringAsync($"/v1/webhook-endpoints/{endpoint.Id}/deliveries"),
        ];
        var stored = await app.QuerySingleAsync<(string Secret, string Previous)>(
            "SELECT secret, previous_secret FROM webhooks.endpoints WHERE id = @Id", new { endpoint.Id });
        var logs = app.Logs.Lines;

        Assert.Contains(logs, line => line.Contains(endpoint.Id, StringComparison.Ordinal)); // the endpoint's work was logged
        foreach (string secret in secrets)
        {
            string key = secret["whsec_".Length..];
            Assert.DoesNotContain(logs, line => line.Contains(key, StringComparison.Ordinal));
            Assert.All(laterResponses, body => Assert.DoesNotContain(key, body, StringComparison.Ordinal));
            Assert.DoesNotContain(key, stored.Secret + stored.Previous, StringComparison.Ordinal);
        }

        Assert.StartsWith("aesgcm1:", stored.Secret, StringComparison.Ordinal);
        Assert.StartsWith("aesgcm1:", stored.Previous, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_deleted_endpoint_gets_nothing_more()
    {
        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        var before = TestApi.NewEvent(workspace);
        await app.PublishAsync(before);
        await app.WaitForDeliveryAsync(workspace, endpoint.Id, before.EventId, d => d.Status() == "delivered", "delivered");
        using var client = app.ClientFor(workspace);

        var deleted = await client.DeleteAsync($"/v1/webhook-endpoints/{endpoint.Id}");

        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        var after = TestApi.NewEvent(workspace);
        await app.PublishAsync(after);
        await Eventually.Until(() => Task.FromResult(app.Consumed.Count(after.EventId)), n => n == 1, Timeout, "the later event consumed");
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/webhook-endpoints/{endpoint.Id}/deliveries")).StatusCode);
        Assert.Equal(0, await app.QuerySingleAsync<int>("SELECT count(*)::int FROM webhooks.deliveries WHERE endpoint_id = @Id", new { endpoint.Id }));
        Assert.Single(_receiver.RequestsTo(endpoint.Url));
    }

    [Fact]
    public async Task The_management_operations_work_over_grpc_end_to_end()
    {
        using var channel = GrpcChannel.ForAddress(app.Factory.Server.BaseAddress, new GrpcChannelOptions { HttpHandler = app.GrpcHandler() });
        var endpoints = new WebhookEndpoints.WebhookEndpointsClient(channel);
        var deliveries = new WebhookDeliveries.WebhookDeliveriesClient(channel);
        string workspace = WebhooksApp.NewWorkspace();
        var metadata = WebhooksApp.As(workspace);
        string url = _receiver.NewUrl();

        var created = await endpoints.CreateWebhookEndpointAsync(new CreateWebhookEndpointRequest { Url = url, EventTypes = { "post.cancelled" } }, metadata);
        string endpointId = created.WebhookEndpoint.Id;
        var rotated = await endpoints.RotateWebhookEndpointSecretAsync(new RotateWebhookEndpointSecretRequest { WebhookEndpointId = endpointId }, metadata);
        var test = await endpoints.SendTestEventAsync(new SendTestEventRequest { WebhookEndpointId = endpointId }, metadata);
        var delivered = await Eventually.Until(
            () => deliveries.GetDeliveryAsync(new GetDeliveryRequest { DeliveryId = test.Id }, metadata).ResponseAsync,
            d => d.Status == Contracts.Webhooks.V1.DeliveryStatus.Delivered, Timeout, "the test event delivered");
        var redelivering = await deliveries.RedeliverDeliveryAsync(new RedeliverDeliveryRequest { DeliveryId = test.Id }, metadata);
        var received = await _receiver.WaitForRequestsAsync(url, 2, "the redelivery");

        Assert.Equal("webhook.test", test.EventType);
        Assert.Equal([200], delivered.Attempts.Select(a => a.StatusCode));
        Assert.Equal(Contracts.Webhooks.V1.DeliveryStatus.Pending, redelivering.Status);
        Assert.All(received, r => Assert.Equal(test.EventId, r.Header("webhook-id")));
        await StandardWebhooks.AssertVerifiesAsync(created.Secret, received);
        await StandardWebhooks.AssertVerifiesAsync(rotated.Secret, received);
        var listed = await Eventually.Until(
            () => deliveries.ListDeliveriesAsync(new ListDeliveriesRequest { WebhookEndpointId = endpointId, Status = Contracts.Webhooks.V1.DeliveryStatus.Delivered }, metadata).ResponseAsync,
            page => page.Deliveries.Count == 1 && page.Deliveries[0].AttemptCount == 2, Timeout, "two attempts listed");
        Assert.Equal(test.Id, listed.Deliveries[0].Id);
        Assert.Empty(listed.NextPageToken);
    }

    [Fact]
    public async Task The_sender_is_woken_again_after_its_listen_connection_breaks()
    {
        const string listeners = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'webhooks-listener'";
        int killed = (await Eventually.Until(() => app.QueryAsync<int>(listeners), pids => pids.Count == 1, Timeout, "the listener"))[0];
        await app.QuerySingleAsync<bool>("SELECT pg_terminate_backend(@killed)", new { killed });
        await Eventually.Until(() => app.QueryAsync<int>(listeners), pids => pids.Count == 1 && pids[0] != killed, Timeout, "a new listener");

        string workspace = WebhooksApp.NewWorkspace();
        var endpoint = await app.CreateEndpointAsync(workspace, _receiver.NewUrl(), "*");
        await app.PublishAsync(TestApi.NewEvent(workspace));

        // Without a wake-up the sender would sleep for Webhooks:MaxIdle (a minute), past this timeout.
        await _receiver.WaitForRequestsAsync(endpoint.Url, 1, "the webhook");
    }
}
