using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>The approval step through the real processes: an editor's post waits for an owner and publishes after approve, never before.</summary>
public sealed class ApprovalTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static string Id(JsonObject node) => node["id"]!.GetValue<string>();

    private static string Status(JsonObject node) => node["status"]!.GetValue<string>();

    private static string Rfc3339(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private static async Task<JsonObject> PostAsync(HttpClient client, string path, object? body, HttpStatusCode expected)
    {
        var response = await client.PostAsJsonAsync(path, body ?? new { });
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"POST {path}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!.AsObject();
    }

    private static async Task<JsonObject> CreateAsync(HttpClient client, string caption, string account, DateTimeOffset due)
        => await PostAsync(client, "/v1/posts", new { caption, targets = new[] { new { socialAccountId = account } }, scheduledFor = Rfc3339(due) }, HttpStatusCode.Created);

    [Fact]
    public async Task An_editors_post_waits_for_approval_and_publishes_after_approve_never_before()
    {
        // A workspace of its own: the setting must not hold other tests' posts.
        var owner = await stack.NewWorkspaceAsync("approval");
        var editor = stack.ClientWithKey((await owner.CreatedAsync("/v1/api-keys", new { name = "editor", role = "editor" }))["secret"]!.GetValue<string>());
        string account = (await owner.CreatedAsync("/v1/social-accounts", new { platform = "sandbox", handle = $"approver-{Guid.NewGuid():N}" }))["id"]!.GetValue<string>();
        await owner.CreatedAsync("/v1/webhook-endpoints", new
        {
            url = stack.Receiver.Url.ToString(),
            events = new[] { "post.approval_requested", "post.approved" },
        });

        var editorPatch = await editor.PatchAsJsonAsync("/v1/scheduling-settings", new { approvalRequired = true });
        Assert.Equal(HttpStatusCode.Forbidden, editorPatch.StatusCode);
        Assert.Equal("FORBIDDEN_SCOPE", await editorPatch.EnvelopeCodeAsync("an editor turning approval on"));
        var ownerPatch = await owner.PatchAsJsonAsync("/v1/scheduling-settings", new { approvalRequired = true });
        Assert.Equal(HttpStatusCode.OK, ownerPatch.StatusCode);

        string caption = $"Needs a second pair of eyes {Guid.NewGuid()}";
        string controlCaption = $"The owner's own {Guid.NewGuid()}";
        var held = await CreateAsync(editor, caption, account, DateTimeOffset.UtcNow.AddSeconds(3));
        Assert.Equal("needs_approval", Status(held));
        var control = await CreateAsync(owner, controlCaption, account, DateTimeOffset.UtcNow.AddSeconds(3.5));
        Assert.Equal("scheduled", Status(control));

        // The owner's post, due after the editor's, going out proves the editor's time came and went without it.
        await Eventually.Until(async () => (await owner.OkAsync($"/v1/posts/{Id(control)}")),
            p => Status(p) == "published", Patience, "the owner's post to be published");
        Assert.DoesNotContain(await stack.SandboxStatusesAsync(), s => s.Status == caption);
        Assert.Equal("needs_approval", Status(await owner.OkAsync($"/v1/posts/{Id(held)}")));

        var byEditor = await editor.PostAsJsonAsync($"/v1/posts/{Id(held)}/approve", new { });
        Assert.Equal(HttpStatusCode.Forbidden, byEditor.StatusCode);
        Assert.Equal("FORBIDDEN_SCOPE", await byEditor.EnvelopeCodeAsync("an editor approving"));
        var late = await owner.PostAsJsonAsync($"/v1/posts/{Id(held)}/approve", new { });
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("SCHEDULE_IN_PAST", await late.EnvelopeCodeAsync("approving a post whose time passed"));

        var moved = await PostAsync(editor, $"/v1/posts/{Id(held)}/reschedule", new { scheduledFor = Rfc3339(DateTimeOffset.UtcNow.AddSeconds(3)) }, HttpStatusCode.OK);
        Assert.Equal("needs_approval", Status(moved));
        var approved = await PostAsync(owner, $"/v1/posts/{Id(held)}/approve", null, HttpStatusCode.OK);
        Assert.Equal("scheduled", Status(approved));

        var published = await Eventually.Until(async () => await owner.OkAsync($"/v1/posts/{Id(held)}"),
            p => Status(p) == "published", Patience, "the approved post to be published");
        var copy = Assert.Single(await stack.SandboxStatusesAsync(), s => s.Status == caption);
        Assert.Equal(copy.Id, published["targets"]![0]!["externalPostId"]!.GetValue<string>());
        Assert.True(copy.ReceivedAt >= DateTimeOffset.Parse(approved["scheduledFor"]!.GetValue<string>(), CultureInfo.InvariantCulture).AddMilliseconds(-50),
            "published before the approved time");

        var audit = (await owner.OkAsync($"/v1/posts/{Id(held)}/events"))["data"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()).ToList();
        Assert.Equal(["created", "approval_requested", "approval_requested", "approved"], audit.Take(4));

        // Subscribers heard both steps.
        foreach (string type in new[] { "post.approval_requested", "post.approved" })
        {
            await Eventually.Until(() => Task.FromResult(stack.Receiver.Received.Any(w => w.Body.Contains(Id(held), StringComparison.Ordinal)
                    && JsonNode.Parse(w.Body)!["type"]!.GetValue<string>() == type)),
                seen => seen, Patience, $"the {type} webhook");
        }
    }
}
