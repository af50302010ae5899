using Grpc.Core;
using Microsoft.AspNetCore.Authorization;
using ScheduledPosts.Scheduling.Media;
using ScheduledPosts.ServiceDefaults.Errors;
using ScheduledPosts.ServiceDefaults.Identity;
using static ScheduledPosts.Scheduling.Grpc.Messages;
using V1 = ScheduledPosts.Contracts.Scheduling.V1;

namespace ScheduledPosts.Scheduling.Grpc;

/// <summary>
/// Media for internal callers (media.proto), over the same <see cref="MediaLibrary"/> as REST: the upload's chunks are
/// read as one stream, so the type, size and quota rules apply while it streams, as they do to a multipart part.
/// </summary>
public sealed class MediaGrpcService(MediaLibrary library) : V1.Media.MediaBase
{
    private static readonly MediaUploadFields Fields = new("metadata.content_type", "metadata.size_bytes", "chunk");

    [Authorize(Policy = InternalPolicies.PostsWrite)]
    public override async Task<V1.MediaItem> UploadMedia(IAsyncStreamReader<V1.UploadMediaRequest> requestStream, ServerCallContext context)
    {
        if (!await requestStream.MoveNext(context.CancellationToken) || requestStream.Current.DataCase != V1.UploadMediaRequest.DataOneofCase.Metadata)
        {
            throw ApiException.Validation("metadata", "The first message of an upload must carry its metadata (file_name, content_type, size_bytes); the chunks follow.");
        }

        var metadata = requestStream.Current.Metadata;
        var upload = new MediaUpload(metadata.ContentType, metadata.FileName, metadata.SizeBytes == 0 ? null : metadata.SizeBytes, Fields);
        await using var content = new ChunkStream(requestStream, context.CancellationToken);
        return MediaItem(await library.UploadAsync(Who(context).WorkspaceId, upload, content, context.CancellationToken));
    }

    [Authorize(Policy = InternalPolicies.PostsRead)]
    public override async Task<V1.MediaItem> GetMedia(V1.GetMediaRequest request, ServerCallContext context)
        => MediaItem(await library.GetAsync(Who(context).WorkspaceId, request.MediaId));

    private static V1.MediaItem MediaItem(Media.MediaItem item) => new()
    {
        Id = item.Id,
        ContentType = item.ContentType,
        SizeBytes = item.SizeBytes,
        FileName = item.Filename ?? "",
        CreateTime = Time(item.CreatedAt),
    };

    private static InternalIdentity Who(ServerCallContext context) => InternalCaller.Current(context.GetHttpContext());

    /// <summary>The chunks after the metadata message, read in order as one forward-only stream.</summary>
    private sealed class ChunkStream(IAsyncStreamReader<V1.UploadMediaRequest> messages, CancellationToken callAborted) : Stream
    {
        private ReadOnlyMemory<byte> _current = ReadOnlyMemory<byte>.Empty;
        private bool _ended;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (_current.IsEmpty && !_ended)
            {
                if (!await messages.MoveNext(callAborted))
                {
                    _ended = true;
                }
                else if (messages.Current.DataCase != V1.UploadMediaRequest.DataOneofCase.Chunk)
                {
                    throw ApiException.Validation("metadata", "Only the first message of an upload carries metadata; the others carry chunks.");
                }
                else
                {
                    _current = messages.Current.Chunk.Memory;
                }
            }

            int count = Math.Min(buffer.Length, _current.Length);
            _current[..count].CopyTo(buffer);
            _current = _current[count..];
            return count;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
