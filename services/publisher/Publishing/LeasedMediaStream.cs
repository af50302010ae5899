using Grpc.Core;
using ScheduledPosts.Contracts.Scheduling.V1;
using ScheduledPosts.Publisher.Connectors;

namespace ScheduledPosts.Publisher.Publishing;

/// <summary>
/// A media file as the scheduling service streams it (<c>Targets.ReadMedia</c>, under the target's lease), read as
/// a forward-only stream, chunk by chunk as the connector sends it on: a file is never held whole in memory.
/// </summary>
public sealed class LeasedMediaStream : Stream
{
    private readonly AsyncServerStreamingCall<MediaChunk> _call;
    private readonly string _mediaId;
    private ReadOnlyMemory<byte> _chunk;
    private bool _ended;
    private long _position;

    private LeasedMediaStream(AsyncServerStreamingCall<MediaChunk> call, string mediaId)
    {
        _call = call;
        _mediaId = mediaId;
    }

    /// <summary>Starts reading <paramref name="mediaId"/>; waits for its first chunk, so a refused lease shows here.</summary>
    /// <exception cref="MediaUnavailableException">The scheduling service refused or could not serve the file.</exception>
    public static async Task<Stream> OpenAsync(Targets.TargetsClient targets, ClaimedTarget target, string mediaId, CancellationToken cancellationToken)
    {
        // The lease bounds the read: past it the scheduling service would refuse the target's outcome anyway.
        var call = targets.ReadMedia(new ReadMediaRequest { TargetId = target.TargetId, LeaseToken = target.LeaseToken, MediaId = mediaId },
            deadline: target.LeaseExpiresAt?.ToDateTime(), cancellationToken: cancellationToken);
        var stream = new LeasedMediaStream(call, mediaId);
        try
        {
            await stream.NextChunkAsync(cancellationToken);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_chunk.IsEmpty && !_ended)
        {
            await NextChunkAsync(cancellationToken);
        }

        int count = Math.Min(buffer.Length, _chunk.Length);
        _chunk[..count].CopyTo(buffer);
        _chunk = _chunk[count..];
        _position += count;
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    private async Task NextChunkAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (await _call.ResponseStream.MoveNext(cancellationToken))
            {
                _chunk = _call.ResponseStream.Current.Data.Memory;
            }
            else
            {
                _ended = true;
            }
        }
        catch (RpcException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        catch (RpcException e)
        {
            throw new MediaUnavailableException($"The media file {_mediaId} could not be read from the scheduling service ({e.StatusCode}: {e.Status.Detail}).", e);
        }
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _call.Dispose();
        }

        base.Dispose(disposing);
    }
}
