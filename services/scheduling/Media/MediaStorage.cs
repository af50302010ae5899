using Microsoft.Extensions.Options;

namespace ScheduledPosts.Scheduling.Media;

/// <summary>Where media files live: a seam, so S3-compatible storage can replace the local directory later (docs/api.md#not-built-yet).</summary>
public interface IMediaStorage
{
    Task SaveAsync(string mediaId, Stream content, CancellationToken ct);

    /// <summary>The file's content, to read from the start; the caller disposes it.</summary>
    Task<Stream> OpenReadAsync(string mediaId, CancellationToken ct);

    Task DeleteAsync(string mediaId, CancellationToken ct);
}

public sealed class MediaOptions
{
    public const string Section = "Media";

    public string Directory { get; set; } = Path.Combine(Path.GetTempPath(), "scheduledposts-media");

    public long MaxBytes { get; set; } = 50 * 1024 * 1024;

    /// <summary>
    /// The largest upload request the service reads to its end. A refused upload (too large, wrong type) is answered at
    /// once and then read to its end, because a proxy still sending it (the gateway) reports a connection cut off under
    /// it as a 502; past this the connection is cut. Above the gateway's limit on the media route (100 MiB).
    /// </summary>
    public long MaxRequestBytes { get; set; } = 101 * 1024 * 1024;

    /// <summary>The most bytes of media a workspace may store (media not orphaned); 0 means no limit.</summary>
    public long WorkspaceQuotaBytes { get; set; } = 1024L * 1024 * 1024;
}

/// <summary>Media files in a local directory, one file per media id, written under a temporary name and moved into place.</summary>
public sealed class LocalDirectoryMediaStorage(IOptions<MediaOptions> options) : IMediaStorage
{
    private readonly string _root = options.Value.Directory;

    public async Task SaveAsync(string mediaId, Stream content, CancellationToken ct)
    {
        Directory.CreateDirectory(_root);
        string final = PathOf(mediaId);
        string partial = final + ".partial";
        try
        {
            await using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            {
                await content.CopyToAsync(file, ct);
            }

            File.Move(partial, final, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    public Task<Stream> OpenReadAsync(string mediaId, CancellationToken ct)
        => Task.FromResult<Stream>(new FileStream(PathOf(mediaId), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));

    public Task DeleteAsync(string mediaId, CancellationToken ct)
    {
        File.Delete(PathOf(mediaId));
        return Task.CompletedTask;
    }

    public bool Exists(string mediaId) => File.Exists(PathOf(mediaId));

    // Media ids are generated here ("med_" + ULID), never taken from a client, so they are safe file names.
    private string PathOf(string mediaId) => Path.Combine(_root, mediaId);
}
