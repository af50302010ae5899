using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace ScheduledPosts.Publisher.Connectors.Bluesky;

/// <summary>
/// The record key a target's post is written under: the same for every attempt, so the repository, which holds one
/// record per collection and key, cannot hold the post twice (README.md, "Dedupe and reconcile").
/// <c>app.bsky.feed.post</c> records take keys of the <c>tid</c> type (lexicons/app/bsky/feed/post.json,
/// https://atproto.com/specs/record-key): 13 characters of base32-sortable (<c>234567abcdefghijklmnopqrstuvwxyz</c>)
/// encoding a 64-bit integer whose top bit is 0, then 53 bits of microseconds since the Unix epoch, then a 10-bit clock
/// identifier (https://atproto.com/specs/tid).
/// </summary>
public static class BlueskyRecordKey
{
    private const string Alphabet = "234567abcdefghijklmnopqrstuvwxyz";

    // The timestamps are drawn from a window of 2^43 µs (about 102 days) from 2023-01-01: always in the past, where a
    // key can never meet the ones the account's PDS makes for new records now, and far from any limit of the format.
    private static readonly long WindowStart = new DateTimeOffset(2023, 1, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1000;

    /// <summary>A valid TID derived from <paramref name="idempotencyKey"/> by SHA-256: 53 bits of the hash pick it.</summary>
    public static string From(string idempotencyKey)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(idempotencyKey), hash);
        ulong bits = BinaryPrimitives.ReadUInt64BigEndian(hash);
        ulong micros = (ulong)WindowStart + (bits >> 21);
        ulong clockId = (bits >> 11) & 0x3FF;
        ulong value = (micros << 10) | clockId;

        Span<char> key = stackalloc char[13];
        for (int i = key.Length - 1; i >= 0; i--)
        {
            key[i] = Alphabet[(int)(value & 0x1F)];
            value >>= 5;
        }

        return new string(key);
    }
}
