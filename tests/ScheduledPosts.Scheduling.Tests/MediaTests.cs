using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Scheduling.Tests.SchedulingFactory;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>Media upload (streamed, size and type checked), attachment, and cleanup after a post is deleted.</summary>
public sealed class MediaTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 1, 2, 3, 4];

    private static async Task<HttpResponseMessage> UploadAsync(HttpClient client, byte[] content, string contentType, string name = "photo.png")
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        form.Add(file, "file", name);
        return await client.PostAsync("/v1/media", form);
    }

    [Fact]
    public async Task An_upload_is_stored_and_described_and_bad_types_or_sizes_are_refused()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        var uploaded = await UploadAsync(client, Png, "image/png");
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        var media = (await uploaded.Content.ReadFromJsonAsync<JsonObject>())!;
        string id = media["id"]!.GetValue<string>();
        Assert.StartsWith("med_", id, StringComparison.Ordinal);
        Assert.Equal(Png.Length, media["sizeBytes"]!.GetValue<long>());
        Assert.Equal("image/png", media["contentType"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(factory.MediaDirectory, id)));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/media/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await factory.Client("ws_elsewhere").GetAsync($"/v1/media/{id}")).StatusCode);

        var filesBefore = Directory.GetFiles(factory.MediaDirectory).Order().ToList();
        var unsupported = await UploadAsync(client, [1, 2, 3], "application/x-msdownload", "evil.exe");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unsupported.StatusCode);
        var disguised = await UploadAsync(client, "MZ not a png at all"u8.ToArray(), "image/png");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, disguised.StatusCode);
        Assert.Equal("file", (await disguised.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["details"]!["issues"]![0]!["path"]!.GetValue<string>());

        var huge = new byte[(2 * 1024 * 1024) + 1];
        Png.CopyTo(huge, 0);
        var tooLarge = await UploadAsync(client, huge, "image/png");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal("PAYLOAD_TOO_LARGE", ErrorCode((await tooLarge.Content.ReadFromJsonAsync<JsonObject>())!));

        var notMultipart = await client.PostAsJsonAsync("/v1/media", new { file = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, notMultipart.StatusCode);

        // The refused uploads left nothing behind, not even partial files.
        Assert.Equal(filesBefore, Directory.GetFiles(factory.MediaDirectory).Order().ToList());
    }

    [Fact]
    public async Task Deleting_a_post_removes_its_media_from_storage_unless_another_post_uses_it()
    {
        var client = factory.Client($"ws_{Guid.NewGuid():N}");
        string account = await ConnectAccountAsync(client);
        string only = (await (await UploadAsync(client, Png, "image/png")).Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        string shared = (await (await UploadAsync(client, Png, "image/png")).Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();

        var created = await client.PostAsJsonAsync("/v1/posts", new
        {
            caption = "With pictures",
            targets = new[] { new { socialAccountId = account } },
            mediaIds = new[] { only, shared },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var post = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal([only, shared], post["media"]!.AsArray().Select(m => m!["mediaId"]!.GetValue<string>()));
        var other = await client.PostAsJsonAsync("/v1/posts", new { caption = "Reuses one", targets = new[] { new { socialAccountId = account } }, mediaIds = new[] { shared } });
        Assert.Equal(HttpStatusCode.Created, other.StatusCode);

        var unknown = await client.PostAsJsonAsync("/v1/posts", new { caption = "x", targets = new[] { new { socialAccountId = account } }, mediaIds = new[] { "med_nope" } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await client.DeleteAsync($"/v1/posts/{post["id"]}")).StatusCode);
        await Eventually.Until(() => Task.FromResult(File.Exists(Path.Combine(factory.MediaDirectory, only))), exists => !exists,
            TimeSpan.FromSeconds(10), "the unused media file to be removed");
        Assert.True(File.Exists(Path.Combine(factory.MediaDirectory, shared)));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/media/{only}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/v1/media/{shared}")).StatusCode);
    }
}
