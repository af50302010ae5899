using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>Media uploaded through the gateway reaching the platform with the post, byte for byte.</summary>
public sealed class MediaPublishingTests(Stack stack) : IClassFixture<Stack>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    public sealed record SandboxMedia(string Id, string ContentType, string FileName, long Length, string Sha256, string? Description);

    public sealed record SandboxStatus(string Id, string Account, string Status, IReadOnlyList<SandboxMedia>? Media);

    [Fact]
    public async Task A_post_with_a_PNG_and_a_JPEG_puts_exactly_those_bytes_on_the_platform_once()
    {
        string account = await stack.ConnectSandboxAccountAsync("media-alice");
        // Real signatures (the upload checks them), then enough random bytes to span several stream chunks.
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. RandomNumberGenerator.GetBytes(300_000)];
        byte[] jpeg = [0xFF, 0xD8, 0xFF, 0xE0, .. RandomNumberGenerator.GetBytes(70_000)];
        string pngId = await UploadAsync(png, "image/png", "launch.png");
        string jpegId = await UploadAsync(jpeg, "image/jpeg", "team.jpg");
        string caption = $"Launch day, with pictures {Guid.NewGuid()}";

        var created = await stack.Gateway.PostAsJsonAsync("/v1/posts", new
        {
            caption,
            targets = new[] { new { socialAccountId = account } },
            mediaIds = new[] { pngId, jpegId },
            scheduledFor = DateTimeOffset.UtcNow.AddSeconds(2).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        string postId = (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        var published = await Eventually.Until(() => stack.GetPostAsync(postId),
            p => p["status"]!.GetValue<string>() is "published" or "failed", Patience, "the post to be published");
        Assert.True(published["status"]!.GetValue<string>() == "published", published.ToJsonString());

        var statuses = (await stack.Sandbox.GetFromJsonAsync<List<SandboxStatus>>("/sandbox/statuses", Stack.Json))!;
        var copy = Assert.Single(statuses, s => s.Status == caption);
        Assert.Equal(copy.Id, published["targets"]![0]!["externalPostId"]!.GetValue<string>());
        Assert.Equal(
            [("image/png", "launch.png", (long)png.Length, Sha256(png)), ("image/jpeg", "team.jpg", (long)jpeg.Length, Sha256(jpeg))],
            (copy.Media ?? []).Select(m => (m.ContentType, m.FileName, m.Length, m.Sha256)));
    }

    [Fact]
    public async Task A_video_for_a_platform_that_takes_only_images_is_refused_before_anything_is_scheduled()
    {
        string account = await stack.ConnectSandboxAccountAsync("media-bob");
        string videoId = await UploadAsync([0, 0, 0, 0x18, .. "ftypmp42"u8, .. RandomNumberGenerator.GetBytes(1_000)], "video/mp4", "clip.mp4");
        string caption = $"A clip {Guid.NewGuid()}";

        var refused = await stack.Gateway.PostAsJsonAsync("/v1/posts", new
        {
            caption,
            targets = new[] { new { socialAccountId = account } },
            mediaIds = new[] { videoId },
            scheduledFor = DateTimeOffset.UtcNow.AddSeconds(2).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("VALIDATION", await refused.EnvelopeCodeAsync("a video for the sandbox"));
        var issue = (await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["details"]!["issues"]![0]!;
        Assert.Equal("targets[0].socialAccountId", issue["path"]!.GetValue<string>());
        Assert.Contains("video/mp4", issue["message"]!.GetValue<string>(), StringComparison.Ordinal);
        var posts = await stack.Gateway.GetFromJsonAsync<JsonObject>($"/v1/posts?socialAccountId={account}");
        Assert.Empty(posts!["data"]!.AsArray());
    }

    private async Task<string> UploadAsync(byte[] content, string contentType, string name)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        form.Add(file, "file", name);
        var response = await stack.Gateway.PostAsync("/v1/media", form);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
    }

    private static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));
}
