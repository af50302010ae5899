using Dapper;
using Microsoft.AspNetCore.Http;
using Npgsql;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Data;

/// <summary>
/// The stored first answers of idempotent requests (docs/api.md#idempotency-key), per workspace and key, for REST's
/// <c>Idempotency-Key</c> header and gRPC's <c>idempotency-key</c> metadata alike: a key is taken by its first
/// request (with a hash of it), completed with the answer, or forgotten when the request failed with nothing to replay.
/// Each service keeps them in its own schema, in an <c>idempotency_keys</c> table of the same shape.
/// </summary>
public sealed class IdempotencyKeys(NpgsqlDataSource dataSource)
{
    public const int MaxKeyLength = 255;

    /// <summary>How long a first answer is replayed (the API's promise); a retention sweep may remove a key after that.</summary>
    public static readonly TimeSpan ReplayedFor = TimeSpan.FromHours(24);

    /// <summary>A key still pending after this long belongs to a request that will never finish (its process died).</summary>
    public static readonly TimeSpan AbandonedAfter = TimeSpan.FromMinutes(1);

    /// <summary>The first answer; <see cref="StatusCode"/> is null while its request is still running.</summary>
    public sealed record Stored(byte[] RequestHash, int? StatusCode, string? ContentType, string? Location, byte[]? Body);

    public static void Validate(string key, string name)
    {
        if (key.Length > MaxKeyLength || key.Any(char.IsControl))
        {
            throw ApiException.BadRequest($"{name} must be at most {MaxKeyLength} printable characters.");
        }
    }

    /// <summary>Takes the key for a first request (null), or returns what its first request stored.</summary>
    public async Task<Stored?> TakeAsync(string workspaceId, string key, byte[] hash, CancellationToken ct)
    {
        // A connection only per step, never across the handler (which opens its own): held for the whole request, a
        // burst of keyed calls would take the pool from the handlers, and from the publisher's claims.
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        // An expired key, or one whose first request never finished (a crash), is free again.
        await connection.ExecuteAsync("""
            DELETE FROM idempotency_keys WHERE workspace_id = @workspaceId AND key = @key
              AND (created_at < now() - @replayedFor OR (status_code IS NULL AND created_at < now() - @abandonedAfter))
            """, new { workspaceId, key, replayedFor = ReplayedFor, abandonedAfter = AbandonedAfter });
        bool first = await connection.ExecuteAsync(
            "INSERT INTO idempotency_keys (workspace_id, key, request_hash) VALUES (@workspaceId, @key, @hash) ON CONFLICT DO NOTHING",
            new { workspaceId, key, hash }) == 1;
        return first ? null : await connection.QuerySingleAsync<Stored>(
            "SELECT request_hash, status_code, content_type, location, body FROM idempotency_keys WHERE workspace_id = @workspaceId AND key = @key",
            new { workspaceId, key });
    }

    /// <summary>The same key must come with the same request; the first must have finished.</summary>
    public static void EnsureReplayable(Stored stored, byte[] hash)
    {
        if (!stored.RequestHash.AsSpan().SequenceEqual(hash))
        {
            throw new ApiException(StatusCodes.Status422UnprocessableEntity, "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used for a different request.");
        }

        if (stored.StatusCode is null)
        {
            throw ApiException.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.");
        }
    }

    public async Task CompleteAsync(string workspaceId, string key, int statusCode, string? contentType, string? location, byte[] body)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("""
            UPDATE idempotency_keys SET status_code = @statusCode, content_type = @contentType, location = @location, body = @body
            WHERE workspace_id = @workspaceId AND key = @key
            """, new { statusCode, contentType, location, body, workspaceId, key });
    }

    // A failed first request leaves nothing behind, so the client can try again with the same key.
    public async Task ForgetAsync(string workspaceId, string key)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync("DELETE FROM idempotency_keys WHERE workspace_id = @workspaceId AND key = @key", new { workspaceId, key });
    }
}
