using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// A post's media on its way to the publisher: listed in the claim, streamed by ReadMedia only to the holder of the
/// target's lease; and refused at create time (422, naming the target) where a target's platform cannot take it.
/// </summary>
public sealed class LeasedMediaTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly byte[] Mp4 = [0, 0, 0, 0x18, .. "ftypmp42"u8, 0, 0, 0, 0];

    [Fact]
    public async Task The_claim_lists_the_media_and_ReadMedia_streams_its_exact_bytes_only_under_the_current_lease()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        // Larger than one 64 KiB chunk, so the file arrives in several messages.
        byte[] photo = [.. PngSignature, .. RandomNumberGenerator.GetBytes(200_000)];
        string photoId = await UploadAsync(client, photo, "image/png", "photo.png");
        string elsewhereId = await UploadAsync(client, PngSignature, "image/png", "other.png");
        var created = await client.PostAsJsonAsync("/v1/posts", new
        {
            caption = "With a photo",
            targets = new[] { new { socialAccountId = account } },
            mediaIds = new[] { photoId },
            scheduledFor = Rfc3339(DateTimeOffset.UtcNow),
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var post = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        string postId = post["id"]!.GetValue<string>();
        string targetId = post["targets"]![0]!["id"]!.GetValue<string>();

        var targets = factory.TargetsClient();
        var claimed = await ClaimWhenDueAsync(targets, postId, targetId);

        var media = Assert.Single(claimed.Media);
        Assert.Equal((photoId, "image/png", (long)photo.Length, "image", "photo.png", ""),
            (media.MediaId, media.ContentType, media.SizeBytes, media.Kind, media.Filename, media.AltText));
        Assert.Equal(photo, await ReadAsync(targets, targetId, claimed.LeaseToken, photoId));

        Assert.Equal(StatusCode.PermissionDenied, await RefusalAsync(targets, targetId, Guid.NewGuid().ToString(), photoId));
        Assert.Equal(StatusCode.PermissionDenied, await RefusalAsync(targets, targetId, "not-a-lease", photoId));
        Assert.Equal(StatusCode.PermissionDenied, await RefusalAsync(targets, "tgt_unknown", claimed.LeaseToken, photoId));
        Assert.Equal(StatusCode.NotFound, await RefusalAsync(targets, targetId, claimed.LeaseToken, elsewhereId));

        await targets.CompleteTargetAsync(new CompleteTargetRequest
        {
            TargetId = targetId,
            LeaseToken = claimed.LeaseToken,
            Published = new TargetPublished { ExternalPostId = "1" },
        });
        Assert.Equal(StatusCode.PermissionDenied, await RefusalAsync(targets, targetId, claimed.LeaseToken, photoId));
    }

    [Fact]
    public async Task A_post_whose_media_a_targets_platform_cannot_take_is_refused_naming_that_target()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string sandbox = await ConnectAccountAsync(client);
        string mastodon = await ConnectMastodonAsync(client);
        string photo = await UploadAsync(client, PngSignature, "image/png", "photo.png");
        string video = await UploadAsync(client, Mp4, "video/mp4", "clip.mp4");

        // The sandbox takes images only: the second target is named.
        var (status, body) = await CreateAsync(client, [mastodon, sandbox], [video]);
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "VALIDATION", "targets[1].socialAccountId"), (status, ErrorCode(body), IssuePath(body)));
        // Mastodon takes a video only on its own.
        (status, body) = await CreateAsync(client, [mastodon], [photo, video]);
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "targets[0].socialAccountId"), (status, IssuePath(body)));

        Assert.Equal(HttpStatusCode.Created, (await CreateAsync(client, [mastodon], [video])).Status);
        (status, var draft) = await CreateAsync(client, [sandbox, mastodon], [photo]);
        Assert.Equal(HttpStatusCode.Created, status);

        // Editing a draft is held to the same rule, and a refused edit changes nothing.
        string draftId = draft["id"]!.GetValue<string>();
        var (patched, patchBody) = await SendAsync(client, HttpMethod.Patch, $"/v1/posts/{draftId}", new { mediaIds = new[] { video } });
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "targets[0].socialAccountId"), (patched, IssuePath(patchBody)));
        var unchanged = (await client.GetFromJsonAsync<JsonObject>($"/v1/posts/{draftId}"))!;
        Assert.Equal([photo], unchanged["media"]!.AsArray().Select(m => m!["mediaId"]!.GetValue<string>()));
    }

    private async Task<ClaimedTarget> ClaimWhenDueAsync(Targets.TargetsClient targets, string postId, string targetId)
    {
        var claim = await Eventually.Until(async () =>
            factory.Due.Where(d => d.Message.TargetId == targetId).Select(d => d.Message).LastOrDefault() is { } due
                ? await targets.ClaimTargetAsync(new ClaimTargetRequest { PostId = postId, TargetId = targetId, ScheduleVersion = due.ScheduleVersion })
                : new ClaimTargetResponse(),
            c => c.Claimed, TimeSpan.FromSeconds(20), "the target to be due and claimed");
        return claim.Target;
    }

    private static async Task<byte[]> ReadAsync(Targets.TargetsClient targets, string targetId, string leaseToken, string mediaId)
    {
        using var call = targets.ReadMedia(new ReadMediaRequest { TargetId = targetId, LeaseToken = leaseToken, MediaId = mediaId });
        using var content = new MemoryStream();
        await foreach (var chunk in call.ResponseStream.ReadAllAsync())
        {
            chunk.Data.WriteTo(content);
        }

        return content.ToArray();
    }

    private static async Task<StatusCode> RefusalAsync(Targets.TargetsClient targets, string targetId, string leaseToken, string mediaId)
        => (await Assert.ThrowsAsync<RpcException>(() => ReadAsync(targets, targetId, leaseToken, mediaId))).StatusCode;

    private static async Task<string> UploadAsync(HttpClient client, byte[] content, string contentType, string name)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        form.Add(file, "file", name);
        var response = await client.PostAsync("/v1/media", form);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private static async Task<string> ConnectMastodonAsync(HttpClient client)
    {
        var response = await client.PostAsJsonAsync("/v1/social-accounts", new
        {
            platform = "mastodon",
            handle = "alice@mastodon.test",
            credentials = new { instanceUrl = "https://mastodon.test", accessToken = "token" },
        });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private static Task<(HttpStatusCode Status, JsonObject Body)> CreateAsync(HttpClient client, string[] accounts, string[] mediaIds)
        => SendAsync(client, HttpMethod.Post, "/v1/posts", new
        {
            caption = "Media check",
            targets = accounts.Select(a => new { socialAccountId = a }).ToArray(),
            mediaIds,
        });

    private static string IssuePath(JsonObject body) => body["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>();
}
