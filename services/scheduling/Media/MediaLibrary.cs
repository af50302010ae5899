using Dapper;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Npgsql;
using ScheduledPosts.Scheduling.Posts;
using ScheduledPosts.Scheduling.Publishing;
using ScheduledPosts.ServiceDefaults;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Scheduling.Media;

/// <summary>What an upload says of its file: its type, its name, and (gRPC) its size in advance.</summary>
public sealed record MediaUpload(string? ContentType, string? Filename, long? DeclaredBytes, MediaUploadFields? Fields = null);

/// <summary>Where the caller said each thing, for the fields of a validation error (REST: all in the <c>file</c> part).</summary>
public sealed record MediaUploadFields(string ContentType, string Size, string Content)
{
    public static readonly MediaUploadFields Multipart = new("file", "file", "file");
}

public sealed record MediaItem(string Id, string ContentType, long SizeBytes, string? Filename, DateTimeOffset CreatedAt);

/// <summary>One media file of a post, as a claimed target carries it to the publisher.</summary>
public sealed record PostMedia(string Id, string ContentType, long SizeBytes, string? Filename, string? AltText);

/// <summary>Whether the publisher may read a media file under a target's lease.</summary>
public enum LeasedMediaAccess
{
    Granted,

    /// <summary>The caller does not hold the target's current lease (wrong token, expired, completed, no such target).</summary>
    LeaseNotHeld,

    /// <summary>The target's post does not carry that media file.</summary>
    NotCarried,
}

/// <summary>
/// Uploads (multipart, streamed straight to storage with the size limit enforced while streaming, the type checked
/// against the file's own first bytes) and media metadata.
/// </summary>
public sealed class MediaLibrary(
    NpgsqlDataSource dataSource,
    [FromKeyedServices(PublishingOptions.Pool)] NpgsqlDataSource publishing,
    IMediaStorage storage,
    IOptions<MediaOptions> options,
    TimeProvider clock)
{
    /// <summary>Accepted types and the magic bytes that prove them (offset, bytes).</summary>
    private static readonly Dictionary<string, Func<byte[], bool>> Signatures = new(StringComparer.OrdinalIgnoreCase)
    {
        ["image/jpeg"] = b => b is [0xFF, 0xD8, 0xFF, ..],
        ["image/png"] = b => b is [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, ..],
        ["image/gif"] = b => b is [0x47, 0x49, 0x46, 0x38, ..],
        ["image/webp"] = b => b.Length >= 12 && b.AsSpan(0, 4).SequenceEqual("RIFF"u8) && b.AsSpan(8, 4).SequenceEqual("WEBP"u8),
        ["video/mp4"] = b => b.Length >= 12 && b.AsSpan(4, 4).SequenceEqual("ftyp"u8),
    };

    private readonly long _maxBytes = options.Value.MaxBytes;
    private readonly long _maxRequestBytes = options.Value.MaxRequestBytes;
    private readonly long _quota = options.Value.WorkspaceQuotaBytes;

    public async Task<MediaItem> UploadAsync(string workspaceId, HttpRequest request, CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType)
            || !"multipart/form-data".Equals(contentType.MediaType.Value, StringComparison.OrdinalIgnoreCase)
            || HeaderUtilities.RemoveQuotes(contentType.Boundary).Value is not { Length: > 0 } boundary)
        {
            throw ApiException.BadRequest("Upload media as multipart/form-data with a 'file' part.");
        }

        // Media is larger than JSON bodies: lift the server's limit for this request; ours applies while streaming. The
        // server's is Media:MaxRequestBytes, above the gateway's: a refused upload is answered at once, and the server then
        // reads the rest of it. Cut off instead, a proxy still sending it (the gateway, YARP) would answer 502 and the
        // client would never see why it was refused.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = _maxRequestBytes;
        }

        var reader = new MultipartReader(boundary, request.Body);
        for (var section = await reader.ReadNextSectionAsync(ct); section is not null; section = await reader.ReadNextSectionAsync(ct))
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                || !disposition.IsFileDisposition() || disposition.Name.Value?.Trim('"') != "file")
            {
                continue;
            }

            return await UploadAsync(workspaceId, new MediaUpload(section.ContentType, disposition.FileName.Value?.Trim('"'), null), section.Body, ct);
        }

        throw ApiException.Validation("file", "The upload has no 'file' part.");
    }

    /// <summary>
    /// Stores one file read from <paramref name="content"/>, REST's multipart part or gRPC's stream of chunks alike: its
    /// type must be accepted and proven by its first bytes, its size within the per-file limit and the workspace's quota
    /// (and equal to the declared size, when one is declared).
    /// </summary>
    public async Task<MediaItem> UploadAsync(string workspaceId, MediaUpload upload, Stream content, CancellationToken ct)
    {
        var fields = upload.Fields ?? MediaUploadFields.Multipart;
        string type = upload.ContentType is { Length: > 0 } declared ? declared : "application/octet-stream";
        if (!Signatures.TryGetValue(type, out var matches))
        {
            throw ApiException.Validation(fields.ContentType, $"Unsupported media type '{type}'. Accepted: {string.Join(", ", Signatures.Keys)}.");
        }

        if (upload.DeclaredBytes is < 0)
        {
            throw ApiException.Validation(fields.Size, "The declared size cannot be negative.");
        }

        if (upload.DeclaredBytes > _maxBytes)
        {
            throw TooLarge();
        }

        string filename = upload.Filename is { Length: > 0 and <= 255 } name ? name : "upload";
        return await StoreAsync(workspaceId, content, type, filename, matches, upload.DeclaredBytes, fields, ct);
    }

    public async Task<MediaItem> GetAsync(string workspaceId, string mediaId)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<(string Id, string ContentType, long SizeBytes, string? Filename, DateTime CreatedAt)>(
            "SELECT id, content_type, size_bytes, filename, created_at FROM media WHERE workspace_id = @workspaceId AND id = @mediaId AND orphaned_at IS NULL",
            new { workspaceId, mediaId });
        return row.Id is null
            ? throw ApiException.NotFound("Media")
            : new MediaItem(row.Id, row.ContentType, row.SizeBytes, row.Filename, new DateTimeOffset(DateTime.SpecifyKind(row.CreatedAt, DateTimeKind.Utc)));
    }

    /// <summary>The media of each of <paramref name="postIds"/> that has any, in order, in one query. Part of a batch of claims.</summary>
    public async Task<ILookup<string, PostMedia>> OfPostsAsync(string[] postIds, CancellationToken ct = default)
    {
        await using var connection = await publishing.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<(string PostId, string Id, string ContentType, long SizeBytes, string? Filename, string? AltText)>("""
            SELECT pm.post_id, m.id, m.content_type, m.size_bytes, m.filename, pm.alt_text
            FROM post_media pm JOIN media m ON m.id = pm.media_id
            WHERE pm.post_id = ANY(@postIds) ORDER BY pm.post_id, pm.position
            """, new { postIds });
        return rows.ToLookup(r => r.PostId, r => new PostMedia(r.Id, r.ContentType, r.SizeBytes, r.Filename, r.AltText), StringComparer.Ordinal);
    }

    /// <summary>A post's media, in order, as its targets publish them. Part of a claim: on the publishing path's pool.</summary>
    public async Task<IReadOnlyList<PostMedia>> OfPostAsync(string postId, CancellationToken ct = default)
    {
        await using var connection = await publishing.OpenConnectionAsync(ct);
        return [.. await connection.QueryAsync<PostMedia>("""
            SELECT m.id, m.content_type, m.size_bytes, m.filename, pm.alt_text
            FROM post_media pm JOIN media m ON m.id = pm.media_id
            WHERE pm.post_id = @postId ORDER BY pm.position
            """, new { postId })];
    }

    /// <summary>
    /// Opens a media file for the publisher, only while it holds the current lease of <paramref name="targetId"/>
    /// and only if that target's post carries the file.
    /// </summary>
    public async Task<(LeasedMediaAccess Access, Stream? Content)> OpenLeasedAsync(string targetId, Guid leaseToken, string mediaId, CancellationToken ct)
    {
        await using (var connection = await publishing.OpenConnectionAsync(ct))
        {
            // No such target reads as (false, false): not leased.
            var (leased, carried) = await connection.QuerySingleOrDefaultAsync<(bool Leased, bool Carried)>($"""
                SELECT COALESCE(t.status = '{TargetStatus.Publishing}' AND t.lease_token = @leaseToken AND t.lease_expires_at > clock_timestamp(), false),
                       EXISTS (SELECT 1 FROM post_media pm WHERE pm.post_id = t.post_id AND pm.media_id = @mediaId)
                FROM targets t WHERE t.id = @targetId
                """, new { targetId, leaseToken, mediaId });
            if (!leased)
            {
                return (LeasedMediaAccess.LeaseNotHeld, null);
            }

            if (!carried)
            {
                return (LeasedMediaAccess.NotCarried, null);
            }
        }

        return (LeasedMediaAccess.Granted, await storage.OpenReadAsync(mediaId, ct));
    }

    private async Task<MediaItem> StoreAsync(
        string workspaceId, Stream body, string type, string filename, Func<byte[], bool> matches, long? declaredBytes, MediaUploadFields fields, CancellationToken ct)
    {
        // Stop streaming as soon as the file cannot fit the per-file limit or what is left of the quota.
        long room = _quota > 0 ? _quota - await StoredBytesAsync(workspaceId, ct) : long.MaxValue;
        if (room <= 0)
        {
            throw QuotaExceeded();
        }

        long limit = Math.Min(_maxBytes, room);
        string id = Ids.New("med");
        var counted = new CountingStream(body, limit);
        try
        {
            await storage.SaveAsync(id, counted, ct);
        }
        catch (PayloadTooLargeException)
        {
            await storage.DeleteAsync(id, ct);
            throw limit < _maxBytes ? QuotaExceeded() : TooLarge();
        }

        if (counted.Length == 0 || !matches(counted.Head))
        {
            await storage.DeleteAsync(id, ct);
            throw ApiException.Validation(fields.Content, $"The file's content is not {type}.");
        }

        if (declaredBytes is { } declared && declared != counted.Length)
        {
            await storage.DeleteAsync(id, ct);
            throw ApiException.Validation(fields.Size, $"The upload declared {declared} bytes but sent {counted.Length}.");
        }

        var item = new MediaItem(id, type, counted.Length, filename, clock.GetUtcNow());
        try
        {
            await InsertWithinQuotaAsync(workspaceId, item, ct);
        }
        catch
        {
            await storage.DeleteAsync(id, CancellationToken.None);
            throw;
        }

        return item;
    }

    /// <summary>
    /// Inserts the row if the workspace's stored bytes plus this file stay within the quota. The check and the insert
    /// hold a per-workspace advisory lock, so concurrent uploads count each other: two that each fit alone but not
    /// together cannot both pass.
    /// </summary>
    private async Task InsertWithinQuotaAsync(string workspaceId, MediaItem item, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        if (_quota > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT pg_advisory_xact_lock(hashtextextended('scheduling.media.quota/' || @workspaceId, 0))",
                new { workspaceId }, tx, cancellationToken: ct));
            long stored = await StoredBytesAsync(connection, tx, workspaceId, ct);
            if (stored + item.SizeBytes > _quota)
            {
                throw QuotaExceeded();
            }
        }

        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO media (id, workspace_id, content_type, size_bytes, filename, created_at)
            VALUES (@Id, @workspaceId, @ContentType, @SizeBytes, @Filename, @CreatedAt)
            """, new { item.Id, workspaceId, item.ContentType, item.SizeBytes, item.Filename, item.CreatedAt }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    private async Task<long> StoredBytesAsync(string workspaceId, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        return await StoredBytesAsync(connection, null, workspaceId, ct);
    }

    /// <summary>The bytes the workspace's media take; orphaned media is on its way out and no longer counts.</summary>
    private static Task<long> StoredBytesAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string workspaceId, CancellationToken ct)
        => connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COALESCE(sum(size_bytes), 0)::bigint FROM media WHERE workspace_id = @workspaceId AND orphaned_at IS NULL",
            new { workspaceId }, tx, cancellationToken: ct));

    private ApiException TooLarge() => new(StatusCodes.Status413PayloadTooLarge, "PAYLOAD_TOO_LARGE", $"Media files are limited to {_maxBytes} bytes.");

    private ApiException QuotaExceeded() => new(StatusCodes.Status413PayloadTooLarge, "PAYLOAD_TOO_LARGE",
        $"The workspace's media quota of {_quota} bytes would be exceeded: delete posts whose media is no longer needed (media no post uses is removed after a while) or upload a smaller file.");

    private sealed class PayloadTooLargeException : IOException;

    /// <summary>Counts what passes through, keeps the first bytes for the type check, stops at the limit.</summary>
    private sealed class CountingStream(Stream inner, long max) : Stream
    {
        private readonly MemoryStream _head = new();

        public byte[] Head => _head.ToArray();

        public override long Length => _length;

        private long _length;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int read = await inner.ReadAsync(buffer, cancellationToken);
            if (_head.Length < 16)
            {
                _head.Write(buffer.Span[..Math.Min(read, 16 - (int)_head.Length)]);
            }

            _length += read;
            return _length > max ? throw new PayloadTooLargeException() : read;
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _head.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
