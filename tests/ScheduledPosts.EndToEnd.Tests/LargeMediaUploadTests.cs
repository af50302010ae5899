using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Security.Cryptography;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Testing;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;
using MediaService = ScheduledPosts.Contracts.Scheduling.V1.Media;

namespace ScheduledPosts.EndToEnd.Tests;

/// <summary>
/// Media larger than any one message and than the 1 MiB JSON body limit, through the gateway of the real processes: a
/// gRPC client stream read back, attached to a post and published byte for byte; uploads over the size limit, or of a
/// type not accepted, refused with their reason over gRPC and REST alike, with nothing stored.
/// </summary>
public sealed class LargeMediaUploadTests(LargeMediaUploadTests.SmallMediaStack stack) : IClassFixture<LargeMediaUploadTests.SmallMediaStack>, IDisposable
{
    private const int MaxBytes = 4 * 1024 * 1024;
    private const int ChunkBytes = 256 * 1024;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>A per-file limit of 4 MiB, so a 3 MiB file fits and a 5 MiB one does not.</summary>
    public sealed class SmallMediaStack : Stack
    {
        protected override void Configure(string service, Dictionary<string, string> environment)
        {
            if (service == "scheduling")
            {
                environment["Media__MaxBytes"] = MaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }
    }

    public sealed record SandboxMedia(string ContentType, string FileName, long Length, string Sha256);

    public sealed record SandboxStatus(string Status, IReadOnlyList<SandboxMedia>? Media);

    private readonly GrpcChannel _channel = GrpcChannel.ForAddress(stack.GatewayGrpcUrl);

    private static readonly Metadata Key = new() { { "authorization", $"Bearer {Stack.BootstrapKey}" } };

    private MediaService.MediaClient Media => new(_channel);

    [Fact]
    public async Task A_3_MiB_upload_streams_through_the_gateway_is_read_back_and_published_byte_for_byte()
    {
        byte[] png = Png(3 * 1024 * 1024);
        string account = await stack.ConnectSandboxAccountAsync("grpc-media");

        var uploaded = await UploadAsync(png, "launch.png");
        var read = await Media.GetMediaAsync(new GetMediaRequest { MediaId = uploaded.Id }, Key);
        var post = await new Posts.PostsClient(_channel).CreatePostAsync(new CreatePostRequest
        {
            Caption = $"Streamed over gRPC {Guid.NewGuid()}",
            Targets = { new TargetSpec { SocialAccountId = account } },
            MediaIds = { uploaded.Id },
            ScheduledFor = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddSeconds(2)),
        }, Key);

        Assert.StartsWith("med_", uploaded.Id, StringComparison.Ordinal);
        Assert.Equal(("image/png", (long)png.Length, "launch.png"), (uploaded.ContentType, uploaded.SizeBytes, uploaded.FileName));
        Assert.Equal((uploaded.Id, uploaded.ContentType, uploaded.SizeBytes, uploaded.FileName), (read.Id, read.ContentType, read.SizeBytes, read.FileName));
        Assert.Equal([uploaded.Id], post.MediaIds);
        var published = await Eventually.Until(() => stack.GetPostAsync(post.Id),
            p => p["status"]!.GetValue<string>() is "published" or "failed", Patience, "the post to be published");
        Assert.True(published["status"]!.GetValue<string>() == "published", published.ToJsonString());
        var statuses = (await stack.Sandbox.GetFromJsonAsync<List<SandboxStatus>>("/sandbox/statuses", Stack.Json))!;
        var copy = Assert.Single(statuses, s => s.Status == post.Caption);
        Assert.Equal([("image/png", "launch.png", (long)png.Length, Sha256(png))], (copy.Media ?? []).Select(m => (m.ContentType, m.FileName, m.Length, m.Sha256)));
    }

    [Fact]
    public async Task An_upload_over_the_size_limit_is_refused_with_rests_reason_and_nothing_is_stored()
    {
        byte[] png = Png(MaxBytes + (1024 * 1024));
        string before = await stack.ScalarAsync("SELECT count(*) FROM scheduling.media");

        // Undeclared: refused once the stream passes the limit. Declared: refused at once.
        var streamed = await AssertFails(StatusCode.InvalidArgument, "PAYLOAD_TOO_LARGE", () => UploadAsync(png, "big.png"));
        var declared = await AssertFails(StatusCode.InvalidArgument, "PAYLOAD_TOO_LARGE", () => UploadAsync(png, "big.png", declareSize: true));

        // REST's 413 PAYLOAD_TOO_LARGE, as gRPC says it (docs/api.md#grpc): INVALID_ARGUMENT with the same reason.
        Assert.Contains($"{MaxBytes}", streamed.Message, StringComparison.Ordinal);
        Assert.Equal(streamed.Message, declared.Message);
        Assert.Equal(before, await stack.ScalarAsync("SELECT count(*) FROM scheduling.media"));
    }

    [Fact]
    public async Task A_rest_upload_over_the_size_limit_is_a_413_in_the_envelope_not_a_broken_gateway()
    {
        // Three times the limit: the scheduling service refuses it a third of the way in, with most of it still in
        // flight through the gateway.
        string before = await stack.ScalarAsync("SELECT count(*) FROM scheduling.media");

        var refused = await RestUploadAsync(Png(3 * MaxBytes), "image/png");

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.Status);
        Assert.Equal("PAYLOAD_TOO_LARGE", refused.Body["error"]!["code"]!.GetValue<string>());
        Assert.Contains($"{MaxBytes}", refused.Body["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(before, await stack.ScalarAsync("SELECT count(*) FROM scheduling.media"));
    }

    [Fact]
    public async Task A_large_rest_upload_of_a_type_not_accepted_is_a_422_on_its_field_not_a_broken_gateway()
    {
        // Refused on the part's headers, with twice the size limit still to come.
        var refused = await RestUploadAsync(Png(2 * MaxBytes), "application/pdf");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.Status);
        Assert.Equal("VALIDATION", refused.Body["error"]!["code"]!.GetValue<string>());
        Assert.Contains("application/pdf", refused.Body.ToJsonString(), StringComparison.Ordinal);
    }

    public void Dispose() => _channel.Dispose();

    private async Task<(HttpStatusCode Status, JsonObject Body)> RestUploadAsync(byte[] content, string contentType)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        form.Add(file, "file", "big.png");
        using var response = await stack.Gateway.PostAsync("/v1/media", form);
        string body = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonNode.Parse(body) as JsonObject ?? throw new Xunit.Sdk.XunitException($"{response.StatusCode}: {body}"));
    }

    /// <summary>The metadata message, then the file in 256 KiB chunks; a refusal mid-stream ends the writing, the answer tells why.</summary>
    private async Task<MediaItem> UploadAsync(byte[] content, string fileName, bool declareSize = false)
    {
        using var call = Media.UploadMedia(Key);
        try
        {
            await call.RequestStream.WriteAsync(new UploadMediaRequest
            {
                Metadata = new MediaUploadMetadata { FileName = fileName, ContentType = "image/png", SizeBytes = declareSize ? content.Length : 0 },
            });
            for (int offset = 0; offset < content.Length; offset += ChunkBytes)
            {
                var chunk = content.AsMemory(offset, Math.Min(ChunkBytes, content.Length - offset));
                await call.RequestStream.WriteAsync(new UploadMediaRequest { Chunk = ByteString.CopyFrom(chunk.Span) });
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The server answered before the stream ended (a refusal): its status is the call's answer below.
        }

        return await call.ResponseAsync;
    }

    private static byte[] Png(int length) => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. RandomNumberGenerator.GetBytes(length - 8)];

    private static string Sha256(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));
}
