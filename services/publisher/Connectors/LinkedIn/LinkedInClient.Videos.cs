using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ScheduledPosts.Contracts.Platforms;
using ScheduledPosts.ServiceDefaults.Outbound;
using static ScheduledPosts.Publisher.Connectors.ConnectorResult;

namespace ScheduledPosts.Publisher.Connectors.LinkedIn;

/// <summary>A post's one video, through the Videos API (README.md, "What one upload does").</summary>
public sealed partial class LinkedInClient
{
    private sealed record VideoUploadAnswer(VideoUploadValue? Value);

    private sealed record VideoUploadValue(string? Video, string? UploadToken, List<UploadInstruction>? UploadInstructions);

    private sealed record UploadInstruction(string? UploadUrl, long FirstByte, long LastByte);

    private sealed record VideoStatus(string? Status, string? ProcessingFailureReason);

    // A video goes alone, as an MP4 within the Videos API's size (PostRules checks the same at create time).
    private static Failed? Refused(Upload upload)
    {
        var videos = upload.Media.Where(m => MediaKind.Of(m.ContentType) == MediaKind.Video).ToList();
        if (videos.Count == 0)
        {
            return null;
        }

        long max = Platforms.Known[Platforms.LinkedInPerson].MaxBytesOf(MediaKind.Video) ?? long.MaxValue;
        string? problem = upload.Media.Count > 1 ? "LinkedIn takes a video only as a post's one media file"
            : !string.Equals(videos[0].ContentType, "video/mp4", StringComparison.OrdinalIgnoreCase) ? $"{videos[0].FileName} is {videos[0].ContentType}; LinkedIn takes MP4 video"
            : videos[0].Length > max ? $"{videos[0].FileName} has {videos[0].Length} bytes; LinkedIn takes videos of at most {max} bytes"
            : null;
        return problem is null ? null : new Failed(ConnectorErrors.Rejected, $"{problem}. Nothing was posted.", Retryable: false);
    }

    /// <summary>
    /// Videos API: initializeUpload with the author as owner and the file's size; each part of the file PUT, in order, to
    /// the upload URL that names its byte range, keeping each answer's ETag; finalizeUpload with those ETags in order; then
    /// the video's status polled until AVAILABLE (PROCESSING_FAILED is LinkedIn's refusal of the video).
    /// </summary>
    private async Task<(string? Video, Failed? Failure)> UploadVideoAsync(LinkedInAccount account, UploadMedia media, CancellationToken cancellationToken)
    {
        if (media.Length is not { } length)
        {
            // initializeUpload declares fileSizeBytes; the scheduling service always knows a file's size.
            return (null, new Failed(ConnectorErrors.MediaUnavailable,
                $"The size of {media.FileName} is not known, and LinkedIn's video upload declares it first. Nothing was posted.", Retryable: false));
        }

        string what = $"the video {media.FileName}";
        var request = new JsonObject
        {
            ["owner"] = account.Author,
            ["fileSizeBytes"] = length,
            ["uploadCaptions"] = false,
            ["uploadThumbnail"] = false,
        };
        var (answer, failure) = await InitializeUploadAsync<VideoUploadAnswer>(account, "videos", request, what, cancellationToken);
        if (failure is not null)
        {
            return (null, failure);
        }

        var upload = answer?.Value;

        if (upload is not { Video.Length: > 0, UploadInstructions: { Count: > 0 } parts } || !Covers(parts, length))
        {
            return (null, new Failed(ConnectorErrors.PlatformError, $"LinkedIn answered the upload of {what} without upload instructions for its {length} bytes.",
                Retryable: true));
        }

        var etags = new JsonArray();
        Stream? file = null;
        try
        {
            foreach (var part in parts.OrderBy(p => p.FirstByte))
            {
                if (!Uri.TryCreate(part.UploadUrl, UriKind.Absolute, out var partUrl) || partUrl.Scheme is not ("https" or "http"))
                {
                    return (null, new Failed(ConnectorErrors.PlatformError, $"LinkedIn named no usable upload URL for a part of {what}.", Retryable: true));
                }

                var (put, putFailure) = await SendAsync(async () =>
                {
                    file ??= await media.Open(cancellationToken);
                    var bytes = new byte[part.LastByte - part.FirstByte + 1];
                    if (await file.ReadAtLeastAsync(bytes, bytes.Length, throwOnEndOfStream: false, cancellationToken) < bytes.Length)
                    {
                        throw new MediaUnavailableException($"{media.FileName} ended before its {length} bytes.");
                    }

                    var request = new HttpRequestMessage(HttpMethod.Put, partUrl) { Content = new ByteArrayContent(bytes) };
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", account.AccessToken);
                    return request;
                }, posting: false, cancellationToken);
                if (put is null)
                {
                    return (null, putFailure);
                }

                using (put)
                {
                    if (!put.IsSuccessStatusCode)
                    {
                        return (null, await FailureAsync(put, $"a part of {what}", cancellationToken));
                    }

                    if (put.Headers.ETag?.Tag is not { Length: > 0 } etag)
                    {
                        return (null, new Failed(ConnectorErrors.PlatformError, $"LinkedIn took a part of {what} without an ETag.", Retryable: true));
                    }

                    etags.Add(etag.Trim('"'));
                }
            }
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync();
            }
        }

        var finalize = new JsonObject
        {
            ["finalizeUploadRequest"] = new JsonObject { ["video"] = upload.Video, ["uploadToken"] = upload.UploadToken ?? "", ["uploadedPartIds"] = etags },
        };
        var (finalized, finalizeFailure) = await SendAsync(() => Rest(HttpMethod.Post, account, "rest/videos?action=finalizeUpload", JsonContent.Create(finalize)),
            posting: false, cancellationToken);
        if (finalized is null)
        {
            return (null, finalizeFailure);
        }

        using (finalized)
        {
            if (!finalized.IsSuccessStatusCode)
            {
                return (null, await FailureAsync(finalized, $"the end of {what}'s upload", cancellationToken));
            }
        }

        return await WaitForVideoAsync(account, upload.Video, what, cancellationToken);
    }

    // The parts, in order of their first byte, cover 0 … length − 1 without a gap or an overlap.
    private static bool Covers(List<UploadInstruction> parts, long length)
    {
        long next = 0;
        foreach (var part in parts.OrderBy(p => p.FirstByte))
        {
            if (part.FirstByte != next || part.LastByte < part.FirstByte || part.LastByte - part.FirstByte >= int.MaxValue)
            {
                return false;
            }

            next = part.LastByte + 1;
        }

        return next == length;
    }

    /// <summary>GET /rest/videos/{urn} every <see cref="LinkedInOptions.MediaPollInterval"/> until AVAILABLE, within the bound.</summary>
    private async Task<(string? Video, Failed? Failure)> WaitForVideoAsync(LinkedInAccount account, string video, string what, CancellationToken cancellationToken)
    {
        var giveUpAt = clock.GetUtcNow() + Options.MediaProcessingTimeout;
        while (true)
        {
            var (response, failure) = await SendAsync(() => Rest(HttpMethod.Get, account, $"rest/videos/{Uri.EscapeDataString(video)}"), posting: false, cancellationToken);
            if (response is null)
            {
                return (null, failure);
            }

            VideoStatus? status;
            using (response)
            {
                if (!response.IsSuccessStatusCode)
                {
                    return (null, await FailureAsync(response, $"the status of {what}", cancellationToken));
                }

                status = await ReadAsync<VideoStatus>(response, cancellationToken);
            }

            switch (status?.Status)
            {
                case "AVAILABLE":
                    return (video, null);
                case "PROCESSING_FAILED":
                    string? reason = PlatformErrorText.Sanitise(status.ProcessingFailureReason);
                    return (null, new Failed(ConnectorErrors.Rejected,
                        $"LinkedIn could not process {what}{(reason is { Length: > 0 } ? $": {reason}" : "")}. Nothing was posted.", Retryable: false));
            }

            if (clock.GetUtcNow() + Options.MediaPollInterval > giveUpAt)
            {
                return (null, new Failed(ConnectorErrors.MediaNotReady,
                    $"LinkedIn had not finished processing {what} within {Options.MediaProcessingTimeout.TotalSeconds:0.#} s. Nothing was posted.", Retryable: true));
            }

            await Task.Delay(Options.MediaPollInterval, clock, cancellationToken);
        }
    }
}
