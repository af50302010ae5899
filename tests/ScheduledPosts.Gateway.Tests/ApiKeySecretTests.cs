using ScheduledPosts.Gateway.ApiKeys;

namespace ScheduledPosts.Gateway.Tests;

public sealed class ApiKeySecretTests
{
    [Fact]
    public void Minted_keys_are_long_random_and_url_safe()
    {
        var keys = Enumerable.Range(0, 100).Select(_ => ApiKeySecret.Generate()).ToList();

        Assert.All(keys, key =>
        {
            Assert.StartsWith("sp_", key, StringComparison.Ordinal);
            Assert.True(key.Length >= ApiKeySecret.MinLength, key);
            Assert.True(key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'), key);
        });
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }

    [Fact]
    public void The_hash_is_the_sha256_of_the_whole_key()
    {
        string key = ApiKeySecret.Generate();

        Assert.Equal(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)), ApiKeySecret.Hash(key));
        Assert.NotEqual(ApiKeySecret.Hash(key), ApiKeySecret.Hash(key + "x"));
        Assert.Equal(
            Convert.FromHexString("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
            ApiKeySecret.Hash("hello"));
    }

    [Fact]
    public void The_clear_prefix_is_a_short_start_of_the_key()
    {
        string key = ApiKeySecret.Generate();
        string prefix = ApiKeySecret.Prefix(key);

        Assert.StartsWith(prefix, key, StringComparison.Ordinal);
        Assert.InRange(prefix.Length, 4, 12);
    }
}
