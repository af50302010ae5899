using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using Xunit.Abstractions;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>The PostgreSQL-backed schedule against real PostgreSQL and RabbitMQ: due messages go out on time, cancelled ones never.</summary>
public sealed class DelayedDeliveryTests(SchedulingFactory factory, ITestOutputHelper output) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static async Task<JsonObject> CreateAsync(HttpClient client, string account, DateTimeOffset due, string caption = "Hello")
    {
        var response = await client.PostAsJsonAsync("/v1/posts", new
        {
            caption,
            targets = new[] { new { socialAccountId = account } },
            scheduledFor = SchedulingFactory.Rfc3339(due),
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    [Fact]
    public async Task A_scheduled_post_sends_one_TargetDue_per_target_at_its_time_and_not_before()
    {
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client);
        var due = DateTimeOffset.UtcNow.AddSeconds(1.5);
        var post = await CreateAsync(client, account, due);
        string postId = post["id"]!.GetValue<string>();

        var (message, receivedAt) = await Eventually.Until(
            () => Task.FromResult(factory.Due.FirstOrDefault(d => d.Message.PostId == postId)),
            d => d.Message is not null, Patience, "the TargetDue");
        Assert.Equal(post["targets"]![0]!["id"]!.GetValue<string>(), message.TargetId);
        Assert.Equal(1, message.ScheduleVersion);
        Assert.True(receivedAt >= due.AddMilliseconds(-20), $"sent {due - receivedAt} early");
    }

    [Fact]
    public async Task A_due_message_travels_in_the_trace_of_the_request_that_scheduled_it()
    {
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client);
        string traceId = System.Diagnostics.ActivityTraceId.CreateRandom().ToHexString();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts")
        {
            Content = JsonContent.Create(new
            {
                caption = "Traced",
                targets = new[] { new { socialAccountId = account } },
                scheduledFor = SchedulingFactory.Rfc3339(DateTimeOffset.UtcNow.AddSeconds(1)),
            }),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        string targetId = (await response.Content.ReadFromJsonAsync<JsonObject>())!["targets"]![0]!["id"]!.GetValue<string>();

        // Sent a second later by the dispatcher, a background loop outside any request, yet in the caller's trace.
        await Eventually.Until(() => Task.FromResult(factory.DueTraces.ContainsKey(targetId)), arrived => arrived, Patience, "the TargetDue");
        Assert.Equal(traceId, factory.DueTraces[targetId]);
    }

    [Fact]
    public async Task Posts_due_milliseconds_apart_all_go_out_without_waiting_for_another_write()
    {
        // After each send the dispatcher sleeps until the next due time, here often less than a millisecond away. Nothing
        // is written meanwhile, so no NOTIFY would wake a dispatcher that slept too long (once: until Dispatcher:MaxIdle).
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client);
        // Gaps of 1–8 ms: often the dispatcher finishes a send with the next one due in under a millisecond.
        var due = DateTimeOffset.UtcNow.AddSeconds(4);
        var posts = new List<string>();
        for (int i = 0; i < 60; i++)
        {
            due = due.AddTicks(Random.Shared.Next(10_000, 80_000));
            posts.Add((await CreateAsync(client, account, due))["id"]!.GetValue<string>());
        }

        await Eventually.Until(() => Task.FromResult(posts.Count(id => factory.Due.Any(d => d.Message.PostId == id))),
            sent => sent == posts.Count, Patience, "every post's TargetDue");
    }

    [Fact]
    public async Task Cancelling_takes_the_pending_message_back_so_it_is_never_sent()
    {
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client);
        // Due well after the cancel lands, even on a loaded machine: at +1 s a fresh-clone run once sent it first.
        var due = DateTimeOffset.UtcNow.AddSeconds(4);
        string cancelledId = (await CreateAsync(client, account, due))["id"]!.GetValue<string>();
        string controlId = (await CreateAsync(client, account, due.AddSeconds(0.5)))["id"]!.GetValue<string>();

        var cancel = await client.PostAsJsonAsync($"/v1/posts/{cancelledId}/cancel", new { reason = "changed my mind" });
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);

        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == controlId)), sent => sent, Patience, "the control post's TargetDue");
        Assert.DoesNotContain(factory.Due, d => d.Message.PostId == cancelledId);
    }

    [Fact]
    public async Task Claiming_is_exclusive_and_completing_publishes_the_post()
    {
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client);
        var post = await CreateAsync(client, account, DateTimeOffset.UtcNow, "Now");
        string postId = post["id"]!.GetValue<string>();
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();
        var targets = factory.TargetsClient();

        var stale = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = 0 });
        Assert.False(stale.Claimed);
        Assert.Equal("stale", stale.Reason);

        var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = 1 });
        Assert.True(claim.Claimed);
        Assert.Equal("alice", claim.Target.AccountHandle);
        Assert.Equal("Now", claim.Target.Text);
        Assert.Equal(targetId, claim.Target.IdempotencyKey);

        var second = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = 1 });
        Assert.False(second.Claimed);

        var wrongLease = await Assert.ThrowsAsync<RpcException>(async () => await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = Guid.NewGuid().ToString(),
            Published = new TargetPublished { ExternalPostId = "x" },
        }));
        Assert.Equal(StatusCode.FailedPrecondition, wrongLease.StatusCode);

        var done = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claim.Target.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "109", ExternalUrl = "https://sandbox.example/@alice/109" },
        });
        Assert.Equal("published", done.TargetStatus);
        Assert.Equal("published", done.PostStatus);

        // The publisher repeats a report whose answer it lost: same answer, nothing applied twice.
        var repeated = await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claim.Target.LeaseToken,
            Failed = new TargetFailed { ErrorCode = "TIMEOUT", ErrorMessage = "late", Retryable = true },
        });
        Assert.Equal("published", repeated.TargetStatus);

        var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{postId}"))!;
        Assert.Equal("published", view["status"]!.GetValue<string>());
        Assert.Equal("109", view["targets"]![0]!["externalPostId"]!.GetValue<string>());
        Assert.NotNull(view["publishedAt"]);

        var cancelPublished = await client.PostAsJsonAsync($"/v1/posts/{postId}/cancel", new { });
        Assert.Equal(HttpStatusCode.Conflict, cancelPublished.StatusCode);
    }

    [Fact]
    public async Task A_cancel_and_a_dispatch_at_the_same_instant_end_in_exactly_one_outcome()
    {
        const int posts = 40;
        var client = factory.Client();
        string account = await SchedulingFactory.ConnectAccountAsync(client, "racer");
        var targets = factory.TargetsClient();
        var claims = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>();
        factory.OnDue = async due =>
        {
            var claim = await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = due.PostId, TargetId = due.TargetId, ScheduleVersion = due.ScheduleVersion });
            claims[due.PostId] = claim.Claimed;
        };

        var due = DateTimeOffset.UtcNow.AddSeconds(2);
        var ids = new List<string>();
        for (int i = 0; i < posts; i++)
        {
            ids.Add((await CreateAsync(client, account, due, $"race {i}"))["id"]!.GetValue<string>());
        }

        // Cancel the posts one after another across their due instant (from 60 ms before to ~250 ms after),
        // while the dispatcher sends them and the "publisher" claims: early cancels win, late ones find the claim.
        var cancels = await Task.WhenAll(ids.Select(async (id, i) =>
        {
            var at = due + TimeSpan.FromMilliseconds(-60 + (i * 8));
            var wait = at - DateTimeOffset.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            return (id, (await client.PostAsJsonAsync($"/v1/posts/{id}/cancel", new { })).StatusCode);
        }));
        factory.OnDue = null;
        output.WriteLine($"{cancels.Count(c => c.StatusCode == HttpStatusCode.OK)} cancelled, {cancels.Count(c => c.StatusCode == HttpStatusCode.Conflict)} already publishing");

        foreach (var (id, status) in cancels)
        {
            var view = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{id}"))!;
            if (status == HttpStatusCode.OK)
            {
                // Cancelled: never claimed, now or later.
                Assert.Equal("cancelled", view["status"]!.GetValue<string>());
                Assert.False(claims.TryGetValue(id, out bool claimed) && claimed, $"{id} was cancelled and claimed");
            }
            else
            {
                Assert.Equal(HttpStatusCode.Conflict, status);
                Assert.True(claims.TryGetValue(id, out bool claimed) && claimed, $"{id} answered 409 but was never claimed");
                Assert.Equal("publishing", view["status"]!.GetValue<string>());
            }
        }
    }
}
