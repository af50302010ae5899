using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Dapper;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Identity;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// Bulk cancel, reschedule and delete (docs/api.md#bulk-operations): each selected post by its single call's rules, one
/// result per post, a bad selection a 422 that changes nothing, and the whole request safe to repeat with Idempotency-Key.
/// </summary>
public sealed class BulkTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private static DateTimeOffset In(double seconds) => DateTimeOffset.UtcNow.AddSeconds(seconds);

    private async Task<(string Workspace, HttpClient Client, string Account)> WorkspaceAsync()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var client = factory.Client(workspace);
        return (workspace, client, await ConnectAccountAsync(client));
    }

    private static Dictionary<string, JsonObject> ById(JsonObject answer)
        => answer["data"]!.AsArray().ToDictionary(r => r!["id"]!.GetValue<string>(), r => r!.AsObject());

    private static async Task<string> StatusOfAsync(HttpClient client, string postId)
        => Status((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{postId}"))!);

    private static void AssertSummary(JsonObject answer, int total, int succeeded)
    {
        var summary = answer["summary"]!;
        Assert.Equal((total, succeeded, total - succeeded),
            (summary["total"]!.GetValue<int>(), summary["succeeded"]!.GetValue<int>(), summary["failed"]!.GetValue<int>()));
    }

    [Fact]
    public async Task Bulk_cancel_by_ids_cancels_what_a_single_cancel_would_and_says_why_for_the_rest()
    {
        var (_, client, account) = await WorkspaceAsync();
        var due = await CreatePostAsync(client, [account], In(4));
        var control = await CreatePostAsync(client, [account], In(4.5));
        var later = await CreatePostAsync(client, [account], In(3600));
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);
        var (_, stranger, strangerAccount) = await WorkspaceAsync();
        var theirs = await CreatePostAsync(stranger, [strangerAccount], In(3600));

        var (status, answer) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-cancel", new
        {
            ids = new[] { Id(due), Id(later), Id(draft), Id(theirs), "post_nope", Id(due) },
            reason = "campaign pulled",
        });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([Id(due), Id(later), Id(draft), Id(theirs), "post_nope"], answer["data"]!.AsArray().Select(r => r!["id"]!.GetValue<string>()));
        AssertSummary(answer, 5, 2);
        var results = ById(answer);
        Assert.Equal((true, "cancelled"), (results[Id(due)]["ok"]!.GetValue<bool>(), results[Id(due)]["status"]!.GetValue<string>()));
        Assert.Equal("cancelled", results[Id(later)]["status"]!.GetValue<string>());
        Assert.False(results[Id(draft)]["ok"]!.GetValue<bool>());
        Assert.Equal("CONFLICT", results[Id(draft)]["error"]!["code"]!.GetValue<string>());
        Assert.Null(results[Id(draft)]["status"]);
        Assert.Equal("NOT_FOUND", results[Id(theirs)]["error"]!["code"]!.GetValue<string>());
        Assert.Equal("NOT_FOUND", results["post_nope"]["error"]!["code"]!.GetValue<string>());

        Assert.Equal("cancelled", await StatusOfAsync(client, Id(due)));
        Assert.Equal("draft", await StatusOfAsync(client, Id(draft)));
        Assert.Equal("scheduled", await StatusOfAsync(stranger, Id(theirs)));
        var audit = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(later)}/events"))!["data"]!.AsArray();
        Assert.Equal(("cancelled", "campaign pulled"), (audit[^1]!["action"]!.GetValue<string>(), audit[^1]!["reason"]!.GetValue<string>()));
        await Eventually.Until(() => Task.FromResult(factory.Events.Count(e => e.Type == "post.cancelled" && (e.PostId == Id(due) || e.PostId == Id(later)))),
            n => n == 2, Patience, "post.cancelled of both");

        // The cancelled post's pending message went with it: the control, due after it, goes out; it never does.
        await Eventually.Until(() => Task.FromResult(factory.Due.Any(d => d.Message.PostId == Id(control))), sent => sent, Patience, "the control's TargetDue");
        Assert.DoesNotContain(factory.Due, d => d.Message.PostId == Id(due));
    }

    [Fact]
    public async Task Bulk_reschedule_by_filter_shifts_each_matching_post_from_its_own_time_and_leaves_the_rest()
    {
        var (_, client, alice) = await WorkspaceAsync();
        string bob = await ConnectAccountAsync(client, "bob");
        var baseTime = DateTimeOffset.UtcNow.AddDays(2);
        var first = await CreatePostAsync(client, [alice], baseTime);
        var second = await CreatePostAsync(client, [alice], baseTime.AddHours(1));
        var outside = await CreatePostAsync(client, [alice], baseTime.AddDays(3));
        var bobs = await CreatePostAsync(client, [bob], baseTime);
        var draft = await CreatePostAsync(client, [alice], scheduledFor: null);

        var (status, answer) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-reschedule", new
        {
            filter = new { socialAccountId = alice, status = "scheduled", scheduledFrom = Rfc3339(baseTime.AddMinutes(-1)), scheduledTo = Rfc3339(baseTime.AddDays(1)) },
            shiftSeconds = 3600,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSummary(answer, 2, 2);
        Assert.Equal([Id(second), Id(first)], answer["data"]!.AsArray().Select(r => r!["id"]!.GetValue<string>())); // newest first

        async Task<DateTimeOffset> TimeOf(JsonObject post)
            => DateTimeOffset.Parse((await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!["scheduledFor"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(baseTime.AddHours(1).ToUnixTimeMilliseconds(), (await TimeOf(first)).ToUnixTimeMilliseconds());
        Assert.Equal(baseTime.AddHours(2).ToUnixTimeMilliseconds(), (await TimeOf(second)).ToUnixTimeMilliseconds());
        Assert.Equal(baseTime.AddDays(3).ToUnixTimeMilliseconds(), (await TimeOf(outside)).ToUnixTimeMilliseconds());
        Assert.Equal(baseTime.ToUnixTimeMilliseconds(), (await TimeOf(bobs)).ToUnixTimeMilliseconds());
        await Eventually.Until(() => Task.FromResult(factory.Events.FirstOrDefault(e => e.PostId == Id(first) && e.Type == "post.rescheduled")),
            e => e is not null, Patience, "post.rescheduled");

        // A shift that would land a post in the past fails for that post only; an absolute time moves every one named.
        var soon = await CreatePostAsync(client, [alice], In(600));
        var (_, shifted) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-reschedule", new { ids = new[] { Id(soon), Id(first) }, shiftSeconds = -3600 });
        AssertSummary(shifted, 2, 1);
        Assert.Equal("VALIDATION", ById(shifted)[Id(soon)]["error"]!["code"]!.GetValue<string>());
        Assert.Equal(baseTime.ToUnixTimeMilliseconds(), (await TimeOf(first)).ToUnixTimeMilliseconds());

        var target = In(7200);
        var (_, moved) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-reschedule", new { ids = new[] { Id(soon), Id(draft) }, scheduledFor = Rfc3339(target) });
        AssertSummary(moved, 2, 1);
        Assert.Equal("scheduled", ById(moved)[Id(soon)]["status"]!.GetValue<string>());
        Assert.Equal("CONFLICT", ById(moved)[Id(draft)]["error"]!["code"]!.GetValue<string>());
        Assert.Equal(target.ToUnixTimeMilliseconds(), (await TimeOf(soon)).ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task Bulk_delete_by_filter_deletes_each_post_its_single_delete_allows()
    {
        var (_, client, account) = await WorkspaceAsync();
        var draft = await CreatePostAsync(client, [account], scheduledFor: null, "old idea");
        var cancelled = await CreatePostAsync(client, [account], In(3600));
        await SendAsync(client, HttpMethod.Post, $"/v1/posts/{Id(cancelled)}/cancel");
        var keep = await CreatePostAsync(client, [account], In(3600));

        var (status, answer) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-delete", new { filter = new { status = "draft,cancelled" } });
        Assert.Equal(HttpStatusCode.OK, status);
        AssertSummary(answer, 2, 2);
        Assert.All(answer["data"]!.AsArray(), r => Assert.Equal("deleted", r!["status"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/posts/{Id(draft)}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/posts/{Id(cancelled)}")).StatusCode);
        Assert.Equal("scheduled", await StatusOfAsync(client, Id(keep)));
        await Eventually.Until(() => Task.FromResult(factory.Events.Any(e => e.PostId == Id(draft) && e.Type == "post.deleted")), seen => seen, Patience, "post.deleted");

        // Nothing matches now: an empty answer, not an error.
        var (again, none) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-delete", new { filter = new { status = "draft,cancelled" } });
        Assert.Equal(HttpStatusCode.OK, again);
        AssertSummary(none, 0, 0);
    }

    public static TheoryData<string, string, string> BadRequests => new()
    {
        { "bulk-cancel", """{}""", "ids" },
        { "bulk-cancel", """{"ids": ["post_1"], "filter": {}}""", "filter" },
        { "bulk-cancel", """{"ids": []}""", "ids" },
        { "bulk-cancel", """{"ids": ["post_1", "", null]}""", "ids[1]" },
        { "bulk-cancel", """{"filter": {"status": "sheduled"}}""", "filter.status" },
        { "bulk-cancel", """{"filter": {"scheduledFrom": "tomorrow"}}""", "filter.scheduledFrom" },
        { "bulk-cancel", """{"ids": ["post_1"], "reason": "REASON"}""", "reason" },
        { "bulk-reschedule", """{"ids": ["post_1"]}""", "scheduledFor" },
        { "bulk-reschedule", """{"ids": ["post_1"], "scheduledFor": "2030-01-01T00:00:00Z", "shiftSeconds": 60}""", "shiftSeconds" },
        { "bulk-reschedule", """{"ids": ["post_1"], "shiftSeconds": 0}""", "shiftSeconds" },
        { "bulk-reschedule", """{"ids": ["post_1"], "scheduledFor": "2030-01-01T00:00:00"}""", "scheduledFor" },
        { "bulk-delete", """{"filter": {"platform": "sandbox"}, "ids": ["post_1"]}""", "filter" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_bad_selection_or_change_is_a_422_naming_the_field_and_changes_nothing(string route, string body, string path)
    {
        var (_, client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], In(3600));
        body = body.Replace("post_1", Id(post), StringComparison.Ordinal).Replace("REASON", new string('x', 1025), StringComparison.Ordinal);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/posts/{route}") { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
        var response = await client.SendAsync(request);
        var error = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(path, error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        var after = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal(("scheduled", post["scheduleVersion"]!.GetValue<long>()), (Status(after), after["scheduleVersion"]!.GetValue<long>()));
    }

    [Fact]
    public async Task More_than_a_thousand_ids_or_ten_thousand_matches_is_a_422()
    {
        var (workspace, client, account) = await WorkspaceAsync();
        var (tooMany, error) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-cancel",
            new { ids = Enumerable.Range(0, 1001).Select(i => $"post_{i}").ToArray() });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, tooMany);
        Assert.Equal("ids", error["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());

        // 10,001 drafts written directly: through the API this would take minutes.
        await using (var connection = new NpgsqlConnection(factory.ConnectionString))
        {
            await connection.ExecuteAsync("""
                INSERT INTO scheduling.posts (id, workspace_id, status, caption, schedule_version)
                SELECT 'post_bulk' || lpad(n::text, 6, '0'), @workspace, 'draft', 'bulk', 0 FROM generate_series(1, 10001) n
                """, new { workspace });
        }

        var (overLimit, overError) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-delete", new { filter = new { status = "draft" } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, overLimit);
        Assert.Equal("filter", overError["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/posts/post_bulk000001")).StatusCode);

        // Narrowed under the limit, it goes through.
        var (narrowed, answer) = await SendAsync(client, HttpMethod.Post, "/v1/posts/bulk-cancel", new { filter = new { status = "scheduled", socialAccountId = account } });
        Assert.Equal(HttpStatusCode.OK, narrowed);
        AssertSummary(answer, 0, 0);
    }

    [Fact]
    public async Task The_same_Idempotency_Key_replays_the_first_answer_and_changes_nothing_more()
    {
        var (_, client, account) = await WorkspaceAsync();
        var post = await CreatePostAsync(client, [account], In(3600));

        async Task<(HttpStatusCode Status, string Body, bool Replayed)> SendWithKeyAsync(object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts/bulk-reschedule") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", "bulk-move-1");
            var response = await client.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Contains("Idempotent-Replayed"));
        }

        var body = new { ids = new[] { Id(post) }, shiftSeconds = 600 };
        var first = await SendWithKeyAsync(body);
        Assert.Equal((HttpStatusCode.OK, false), (first.Status, first.Replayed));
        var second = await SendWithKeyAsync(body);
        Assert.Equal((HttpStatusCode.OK, true, first.Body), (second.Status, second.Replayed, second.Body));
        var after = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{Id(post)}"))!;
        Assert.Equal(2, after["scheduleVersion"]!.GetValue<long>()); // shifted once, not twice

        var other = await SendWithKeyAsync(new { ids = new[] { Id(post) }, shiftSeconds = 1200 });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, other.Status);
        Assert.Contains("IDEMPOTENCY_KEY_REUSED", other.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_editors_bulk_reschedule_waits_for_approval_as_their_single_reschedule_would()
    {
        string workspace = $"ws_{Guid.NewGuid():N}";
        var owner = factory.Client(workspace, "key_owner", "posts:read", "posts:write", "posts:approve", "accounts:write", "settings:write");
        var editor = factory.Client(workspace, "key_editor", "posts:read", "posts:write");
        string account = await ConnectAccountAsync(owner);
        var post = await CreatePostAsync(owner, [account], In(3600));
        await SendAsync(owner, HttpMethod.Patch, "/v1/scheduling-settings", new { approvalRequired = true });

        var (_, answer) = await SendAsync(editor, HttpMethod.Post, "/v1/posts/bulk-reschedule", new { ids = new[] { Id(post) }, shiftSeconds = 60 });
        Assert.Equal("needs_approval", ById(answer)[Id(post)]["status"]!.GetValue<string>());
        Assert.Equal("needs_approval", await StatusOfAsync(owner, Id(post)));
    }

    [Fact]
    public async Task Over_gRPC_the_batch_calls_answer_a_result_per_post_and_name_the_proto_fields()
    {
        var (workspace, client, account) = await WorkspaceAsync();
        var posts = factory.PostsClient(new InternalIdentity(workspace, "key_grpc", ["posts:read", "posts:write"]));
        var scheduled = await CreatePostAsync(client, [account], In(3600));
        var draft = await CreatePostAsync(client, [account], scheduledFor: null);

        var cancelled = await posts.BatchCancelPostsAsync(new V1.BatchCancelPostsRequest { PostIds = { Id(scheduled), Id(draft) }, Reason = "over gRPC" });
        Assert.Equal((2, 1, 1), (cancelled.Total, cancelled.Succeeded, cancelled.Failed));
        Assert.Equal((Id(scheduled), true, V1.PostStatus.Cancelled), (cancelled.Results[0].PostId, cancelled.Results[0].Ok, cancelled.Results[0].Status));
        Assert.Equal((false, "CONFLICT"), (cancelled.Results[1].Ok, cancelled.Results[1].Error.Code));

        var revived = await posts.BatchReschedulePostsAsync(new V1.BatchReschedulePostsRequest
        {
            Filter = new V1.PostFilter { Statuses = { V1.PostStatus.Cancelled } },
            ScheduledFor = Timestamp.FromDateTimeOffset(In(7200)),
        });
        Assert.Equal(V1.PostStatus.Scheduled, Assert.Single(revived.Results).Status);

        var invalid = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await posts.BatchReschedulePostsAsync(
            new V1.BatchReschedulePostsRequest { PostIds = { Id(scheduled) }, ShiftSeconds = 0 }));
        Assert.Equal(["shift_seconds"], Fields(invalid));
        var noSelection = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () => await posts.BatchDeletePostsAsync(new V1.BatchDeletePostsRequest()));
        Assert.Equal(["post_ids"], Fields(noSelection));

        var deleted = await posts.BatchDeletePostsAsync(new V1.BatchDeletePostsRequest { Filter = new V1.PostFilter { SocialAccountId = account } });
        Assert.Equal(2, deleted.Succeeded);
        Assert.All(deleted.Results, r => Assert.Equal(V1.PostStatus.Unspecified, r.Status));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/posts/{Id(draft)}")).StatusCode);
    }
}
