using System.Text.Json;
using System.Text.Json.Serialization;

namespace ScheduledPosts.ServiceDefaults.Json;

/// <summary>
/// Refuses strings no stored text can hold: a NUL character (PostgreSQL's <c>text</c> rejects it) or a lone UTF-16
/// surrogate (no valid UTF-8). Reading such a body fails as bad JSON (400) instead of failing later at the database (500).
/// Applies to property values and dictionary keys alike.
/// </summary>
public sealed class StrictStringConverter : JsonConverter<string>
{
    public override bool HandleNull => false;

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => reader.TokenType == JsonTokenType.String
            ? Checked(GetString(ref reader))
            : throw new JsonException($"Expected a string, got {reader.TokenType}.");

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    public override string ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        => Checked(GetString(ref reader));

    public override void WriteAsPropertyName(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
        => writer.WritePropertyName(value);

    private static string GetString(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") cannot become a .NET string.
            throw new JsonException("The string is not valid UTF-16.", e);
        }
    }

    private static string Checked(string value)
    {
        if (!value.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF') && !value.Contains('\0', StringComparison.Ordinal))
        {
            return value;
        }

        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c == '\0')
            {
                throw new JsonException("Strings must not contain NUL (\\u0000) characters.");
            }

            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                throw new JsonException("Strings must not contain unpaired UTF-16 surrogates.");
            }
        }

        return value;
    }
}
