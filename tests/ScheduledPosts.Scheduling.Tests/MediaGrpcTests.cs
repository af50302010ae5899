using Google.Protobuf;
using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using MediaService = ScheduledPosts.Contracts.Scheduling.V1.Media;
using ScheduledPosts.ServiceDefaults.Identity;
using Xunit;
using static ScheduledPosts.Testing.GrpcErrors;

namespace ScheduledPosts.Scheduling.Tests;

/// <summary>
/// The Media gRPC API (media.proto): a client-streamed upload under REST's type, size and quota rules (the service's
/// limit here is 2 MiB), its metadata, and a post created over gRPC that carries it.
/// </summary>
public sealed class MediaGrpcTests(SchedulingFactory factory) : IClassFixture<SchedulingFactory>
{
    private static readonly byte[] Png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 1, 2, 3, 4];

    private static readonly string[] Editor = ["posts:read", "posts:write", "accounts:read", "accounts:write"];

    private MediaService.MediaClient NewWorkspace(out string workspace, params string[] scopes)
    {
        workspace = $"ws_{Guid.NewGuid():N}";
        return MediaClient(workspace, scopes.Length > 0 ? scopes : Editor);
    }

    private MediaService.MediaClient MediaClient(string workspace, string[] scopes) => new(factory.Channel(new InternalIdentity(workspace, "key_grpc", scopes)));

    /// <summary>Sends <paramref name="first"/>, then <paramref name="content"/> in chunks of <paramref name="chunkSize"/> bytes.</summary>
    private static async Task<MediaItem> UploadAsync(MediaService.MediaClient media, UploadMediaRequest first, byte[] content, int chunkSize = 64 * 1024)
    {
        using var call = media.UploadMedia();
        await call.RequestStream.WriteAsync(first);
        try
        {
            for (int offset = 0; offset < content.Length; offset += chunkSize)
            {
                await call.RequestStream.WriteAsync(new UploadMediaRequest
                {
                    Chunk = ByteString.CopyFrom(content, offset, Math.Min(chunkSize, content.Length - offset)),
                });
            }

            await call.RequestStream.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server answered before the whole file was sent (a refusal): its answer says why.
        }

        return await call;
    }

    private static UploadMediaRequest Metadata(string contentType, long sizeBytes = 0, string fileName = "photo.png")
        => new() { Metadata = new MediaUploadMetadata { FileName = fileName, ContentType = contentType, SizeBytes = sizeBytes } };

    private List<string> StoredFiles() => Directory.Exists(factory.MediaDirectory) ? [.. Directory.GetFiles(factory.MediaDirectory).Order()] : [];

    [Fact]
    public async Task An_upload_in_chunks_is_stored_read_back_and_attached_to_a_post_created_over_gRPC()
    {
        var media = NewWorkspace(out string workspace);
        var content = new byte[200_000];
        Random.Shared.NextBytes(content);
        Png.CopyTo(content, 0);

        var item = await UploadAsync(media, Metadata("image/png", content.Length), content, chunkSize: 16 * 1024);
        Assert.StartsWith("med_", item.Id, StringComparison.Ordinal);
        Assert.Equal(("image/png", content.Length, "photo.png"), (item.ContentType, item.SizeBytes, item.FileName));
        Assert.NotNull(item.CreateTime);
        Assert.Equal(content, await File.ReadAllBytesAsync(Path.Combine(factory.MediaDirectory, item.Id)));
        var read = await media.GetMediaAsync(new GetMediaRequest { MediaId = item.Id });
        Assert.Equal((item.Id, item.ContentType, item.SizeBytes, item.FileName), (read.Id, read.ContentType, read.SizeBytes, read.FileName));

        // Without a declared size the chunks are taken as they come.
        var undeclared = await UploadAsync(media, Metadata("image/png"), Png);
        Assert.Equal(Png.Length, undeclared.SizeBytes);

        var rest = factory.Client(workspace);
        string account = await SchedulingFactory.ConnectAccountAsync(rest);
        var posts = factory.PostsClient(new InternalIdentity(workspace, "key_grpc", Editor));
        var post = await posts.CreatePostAsync(new CreatePostRequest
        {
            Caption = "With a picture",
            Targets = { new TargetSpec { SocialAccountId = account } },
            MediaIds = { item.Id, undeclared.Id },
        });
        Assert.Equal([item.Id, undeclared.Id], post.MediaIds);

        // Another workspace cannot read it, nor name it in a post.
        var stranger = NewWorkspace(out _);
        await AssertFails(StatusCode.NotFound, "NOT_FOUND", async () => await stranger.GetMediaAsync(new GetMediaRequest { MediaId = item.Id }));
    }

    [Fact]
    public async Task A_file_over_the_limit_is_PAYLOAD_TOO_LARGE_whether_declared_or_streamed_and_leaves_nothing_behind()
    {
        var media = NewWorkspace(out _);
        var huge = new byte[(2 * 1024 * 1024) + 1];
        Png.CopyTo(huge, 0);
        var before = StoredFiles();

        var streamed = await AssertFails(StatusCode.InvalidArgument, "PAYLOAD_TOO_LARGE", () => UploadAsync(media, Metadata("image/png"), huge));
        Assert.Contains("2097152 bytes", streamed.Message, StringComparison.Ordinal);
        await AssertFails(StatusCode.InvalidArgument, "PAYLOAD_TOO_LARGE", () => UploadAsync(media, Metadata("image/png", huge.Length), Png));

        // A declared size the chunks do not match is refused too, naming the field.
        var mismatch = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", () => UploadAsync(media, Metadata("image/png", 10_000), Png));
        Assert.Equal(["metadata.size_bytes"], Fields(mismatch));
        Assert.Equal(before, StoredFiles());
    }

    [Fact]
    public async Task A_type_not_accepted_or_content_not_of_its_type_is_VALIDATION_naming_the_proto_field()
    {
        var media = NewWorkspace(out _);
        var before = StoredFiles();

        var unsupported = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            () => UploadAsync(media, Metadata("application/x-msdownload", fileName: "evil.exe"), [0x4D, 0x5A, 1, 2]));
        Assert.Equal(["metadata.content_type"], Fields(unsupported));

        var disguised = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", () => UploadAsync(media, Metadata("image/png"), "MZ not a png at all"u8.ToArray()));
        Assert.Equal(["chunk"], Fields(disguised));
        Assert.Equal(before, StoredFiles());
    }

    [Fact]
    public async Task An_upload_whose_first_message_is_not_metadata_or_that_repeats_it_is_refused()
    {
        var media = NewWorkspace(out _);
        var before = StoredFiles();

        var chunkFirst = await AssertFails(StatusCode.InvalidArgument, "VALIDATION",
            () => UploadAsync(media, new UploadMediaRequest { Chunk = ByteString.CopyFrom(Png) }, Png));
        Assert.Equal(["metadata"], Fields(chunkFirst));
        await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () =>
        {
            using var empty = media.UploadMedia();
            await empty.RequestStream.CompleteAsync();
            await empty;
        });

        var twice = await AssertFails(StatusCode.InvalidArgument, "VALIDATION", async () =>
        {
            using var call = media.UploadMedia();
            await call.RequestStream.WriteAsync(Metadata("image/png"));
            await call.RequestStream.WriteAsync(new UploadMediaRequest { Chunk = ByteString.CopyFrom(Png) });
            await call.RequestStream.WriteAsync(Metadata("image/png"));
            await call.RequestStream.CompleteAsync();
            await call;
        });
        Assert.Equal(["metadata"], Fields(twice));
        Assert.Equal(before, StoredFiles());
    }

    [Fact]
    public async Task A_key_without_posts_write_cannot_upload_and_one_without_posts_read_cannot_read()
    {
        var editor = NewWorkspace(out string workspace);
        var item = await UploadAsync(editor, Metadata("image/png"), Png);

        var reader = MediaClient(workspace, ["posts:read"]);
        var refused = await Assert.ThrowsAsync<RpcException>(() => UploadAsync(reader, Metadata("image/png"), Png));
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        Assert.Equal(item.Id, (await reader.GetMediaAsync(new GetMediaRequest { MediaId = item.Id })).Id);

        var accountsOnly = MediaClient(workspace, ["accounts:read", "accounts:write"]);
        var denied = await Assert.ThrowsAsync<RpcException>(async () => await accountsOnly.GetMediaAsync(new GetMediaRequest { MediaId = item.Id }));
        Assert.Equal(StatusCode.PermissionDenied, denied.StatusCode);
    }
}
